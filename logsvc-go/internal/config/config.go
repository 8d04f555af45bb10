// Package config reads the logging service's settings from the environment.
package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sustech-merch/store/serving"
)

// Config is everything the logging service can be told from outside.
type Config struct {
	ListenAddr string   // LOGSVC_LISTEN_ADDR
	Brokers    []string // KAFKA_BROKERS, comma separated
	Topic      string   // KAFKA_TOPIC
	Instance   string   // INSTANCE_NAME, only for the service's own logs
	// How long one call waits for Kafka to acknowledge its entries before it
	// fails with UNAVAILABLE. Shorter than the clients' call deadline, so they
	// get a clear reason instead of DEADLINE_EXCEEDED.
	PublishTimeout time.Duration // LOGSVC_PUBLISH_TIMEOUT
	// How long SIGTERM waits for open streams to finish. Below docker's 10 s
	// stop grace period, so the writer is always flushed before a SIGKILL.
	ShutdownTimeout time.Duration // LOGSVC_SHUTDOWN_TIMEOUT
	// Where GET /metrics is served for Prometheus; empty serves no metrics and
	// adds no interceptor.
	MetricsListenAddr string // LOGSVC_METRICS_LISTEN_ADDR
}

// Load reads the environment; getenv is os.Getenv outside of tests.
func Load(getenv func(string) string) (Config, error) {
	env := serving.Env(getenv)
	cfg := Config{
		ListenAddr: env.String("LOGSVC_LISTEN_ADDR", ":50052"),
		Topic:      env.String("KAFKA_TOPIC", "log-channel"),
		Instance:   env.String("INSTANCE_NAME", "log-1"),
	}
	cfg.MetricsListenAddr = getenv("LOGSVC_METRICS_LISTEN_ADDR")
	for _, b := range strings.Split(env.String("KAFKA_BROKERS", "127.0.0.1:9092"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	if len(cfg.Brokers) == 0 {
		return Config{}, fmt.Errorf("KAFKA_BROKERS lists no broker; set it to host:port[,host:port...]")
	}
	var err error
	if cfg.PublishTimeout, err = env.Duration("LOGSVC_PUBLISH_TIMEOUT", 5*time.Second); err != nil {
		return Config{}, err
	}
	if cfg.ShutdownTimeout, err = env.Duration("LOGSVC_SHUTDOWN_TIMEOUT", 8*time.Second); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// FromEnv is Load(os.Getenv).
func FromEnv() (Config, error) { return Load(os.Getenv) }
