package server_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sustech-merch/store/logsvc/internal/publisher"
	"github.com/sustech-merch/store/logsvc/internal/server"
)

const partitions = 3

// The real Kafka from KAFKA_BROKERS and this run's own topic.
var (
	brokers []string
	topic   string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// `make unit`: every test here needs Kafka and skips (startService).
		os.Exit(m.Run())
	}
	brokers = strings.Split(envOr("KAFKA_BROKERS", "127.0.0.1:9092"), ",")
	topic = fmt.Sprintf("logsvc-test-%d", time.Now().UnixNano())
	admin := &kafka.Client{Addr: kafka.TCP(brokers...)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	// The client sends this to the controller, which answers once every
	// partition has a leader: the tests can publish at once.
	created, err := admin.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}},
	})
	cancel()
	if err == nil {
		err = created.Errors[topic]
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "these tests need a real Kafka at KAFKA_BROKERS=%s: creating topic %s: %v\n", strings.Join(brokers, ","), topic, err)
		os.Exit(1)
	}
	code := m.Run()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	deleted, err := admin.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	cancel()
	if err == nil {
		err = deleted.Errors[topic]
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "deleting topic %s: %v\n", topic, err)
	}
	os.Exit(code)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

type service struct {
	conn *grpc.ClientConn
	stop func() // graceful shutdown, as on SIGTERM; waits until Run returned
}

// startService runs the real server on a loopback port, publishing to
// kafkaBrokers/topic, and dials it.
func startService(t *testing.T, kafkaBrokers []string, publishTimeout time.Duration) *service {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Kafka: runs without -short (make go-test)")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub := publisher.New(publisher.Config{Brokers: kafkaBrokers, Topic: topic, Timeout: publishTimeout}, logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := server.Run(ctx, lis, pub, server.Options{HealthInterval: 200 * time.Millisecond, Logger: logger})
		if cerr := pub.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server.Run: %v", err)
			}
		})
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		stop()
	})
	return &service{conn: conn, stop: stop}
}

type consumed struct {
	partition int
	key       string
	value     string
}

// consume reads this run's topic from the start until it has found want
// records whose key starts with prefix, or fails after a timeout. Records are
// returned in partition order, then offset order.
func consume(t *testing.T, prefix string, want int) []consumed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		found []consumed
		wg    sync.WaitGroup
	)
	enough := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(found) >= want
	}
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			for !enough() {
				readCtx, readCancel := context.WithTimeout(ctx, 200*time.Millisecond)
				m, err := r.ReadMessage(readCtx)
				readCancel()
				if ctx.Err() != nil {
					return
				}
				if err != nil || !strings.HasPrefix(string(m.Key), prefix) {
					continue
				}
				mu.Lock()
				found = append(found, consumed{partition: p, key: string(m.Key), value: string(m.Value)})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.SortStableFunc(found, func(a, b consumed) int { return a.partition - b.partition })
	if len(found) < want {
		t.Fatalf("found %d records with key prefix %q in topic %s within 15s, want %d", len(found), prefix, topic, want)
	}
	return found
}

// uniquePrefix keeps the records of one test apart from the others' in the
// shared topic.
func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("%s-%d-", t.Name(), time.Now().UnixNano())
}
