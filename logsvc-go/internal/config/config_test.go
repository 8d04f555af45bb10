package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sustech-merch/store/logsvc/internal/config"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string // fmt of the Config, or the start of the error
		wantErr bool
	}{
		{
			name: "defaults",
			env:  map[string]string{},
			want: "{:50052 [127.0.0.1:9092] log-channel log-1 5s 8s}",
		},
		{
			name: "everything set, brokers trimmed",
			env: map[string]string{
				"LOGSVC_LISTEN_ADDR": "127.0.0.1:1", "KAFKA_BROKERS": " a:1, b:2 ,", "KAFKA_TOPIC": "t",
				"INSTANCE_NAME": "log-9", "LOGSVC_PUBLISH_TIMEOUT": "750ms", "LOGSVC_SHUTDOWN_TIMEOUT": "1m",
			},
			want: "{127.0.0.1:1 [a:1 b:2] t log-9 750ms 1m0s}",
		},
		{name: "no broker", env: map[string]string{"KAFKA_BROKERS": " , "}, want: "KAFKA_BROKERS lists no broker", wantErr: true},
		{name: "bad duration", env: map[string]string{"LOGSVC_PUBLISH_TIMEOUT": "5"}, want: `LOGSVC_PUBLISH_TIMEOUT="5"`, wantErr: true},
		{name: "zero duration", env: map[string]string{"LOGSVC_SHUTDOWN_TIMEOUT": "0s"}, want: `LOGSVC_SHUTDOWN_TIMEOUT="0s"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(func(name string) string { return tt.env[name] })
			if tt.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
					t.Fatalf("error %v, want one starting with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("{%s %v %s %s %s %s}", cfg.ListenAddr, cfg.Brokers, cfg.Topic, cfg.Instance,
				cfg.PublishTimeout.Round(time.Millisecond), cfg.ShutdownTimeout)
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
