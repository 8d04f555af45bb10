// Package topics creates and deletes throw-away Kafka topics, so tests and
// the benchmark never depend on, or pollute, log-channel.
package topics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Create makes topic with the given partitions on the cluster behind broker
// and waits until every partition has a leader. Topic changes must go to the
// controller, which need not be the broker we first reach.
func Create(ctx context.Context, broker, topic string, partitions int) error {
	controller, err := dialController(ctx, broker)
	if err != nil {
		return err
	}
	defer controller.Close()
	err = controller.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1})
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	for {
		if err := ready(ctx, broker, topic, partitions); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("topic %s was created but is not ready: %w", topic, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Delete removes topic.
func Delete(ctx context.Context, broker, topic string) error {
	controller, err := dialController(ctx, broker)
	if err != nil {
		return err
	}
	defer controller.Close()
	if err := controller.DeleteTopics(topic); err != nil {
		return fmt.Errorf("deleting topic %s: %w", topic, err)
	}
	return nil
}

func dialController(ctx context.Context, broker string) (*kafka.Conn, error) {
	conn, err := kafka.DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, fmt.Errorf("kafka broker %s is unreachable (is Kafka running, is KAFKA_BROKERS right?): %w", broker, err)
	}
	defer conn.Close()
	c, err := conn.Controller()
	if err != nil {
		return nil, fmt.Errorf("asking %s for the controller: %w", broker, err)
	}
	controller, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
	if err != nil {
		return nil, fmt.Errorf("kafka controller %s:%d: %w", c.Host, c.Port, err)
	}
	return controller, nil
}

func ready(ctx context.Context, broker, topic string, partitions int) error {
	conn, err := kafka.DialContext(ctx, "tcp", broker)
	if err != nil {
		return err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return err
	}
	if len(parts) != partitions {
		return fmt.Errorf("%d of %d partitions", len(parts), partitions)
	}
	for _, p := range parts {
		if p.Leader.Host == "" {
			return errors.New("a partition has no leader yet")
		}
	}
	return nil
}
