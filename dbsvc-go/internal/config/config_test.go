package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sustech-merch/store/dbsvc/internal/config"
)

func TestLoad(t *testing.T) {
	required := map[string]string{"POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p"}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range required {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string // fmt of selected fields, or the start of the error
		wantErr bool
	}{
		{name: "defaults", env: required, want: "{:50051 db-1 127.0.0.1:50052 127.0.0.1:5432 goodsstore disable 8 2 30m0s 5m0s 15s 2s false 8s}"},
		{name: "everything set", env: with(map[string]string{
			"DBSVC_LISTEN_ADDR": "127.0.0.1:1", "INSTANCE_NAME": "db-9", "LOGSVC_ADDR": "log:1", "POSTGRES_HOST": "db", "POSTGRES_PORT": "6543",
			"POSTGRES_DB": "x", "POSTGRES_SSLMODE": "require", "DB_POOL_MAX_CONNS": "20", "DB_POOL_MIN_CONNS": "0",
			"DB_POOL_MAX_CONN_LIFETIME": "1h", "DB_POOL_MAX_CONN_IDLE_TIME": "1m", "DB_POOL_HEALTH_CHECK_PERIOD": "5s",
			"DB_ACQUIRE_TIMEOUT": "250ms", "DBSVC_CONNECT_PER_CALL": "true", "DBSVC_SHUTDOWN_TIMEOUT": "3s",
		}), want: "{127.0.0.1:1 db-9 log:1 db:6543 x require 20 0 1h0m0s 1m0s 5s 250ms true 3s}"},
		{name: "no user", env: map[string]string{"POSTGRES_PASSWORD": "p"}, want: "POSTGRES_USER is not set", wantErr: true},
		{name: "no password", env: map[string]string{"POSTGRES_USER": "u"}, want: "POSTGRES_PASSWORD is not set", wantErr: true},
		{name: "bad port", env: with(map[string]string{"POSTGRES_PORT": "0"}), want: `POSTGRES_PORT="0"`, wantErr: true},
		{name: "bad max conns", env: with(map[string]string{"DB_POOL_MAX_CONNS": "many"}), want: `DB_POOL_MAX_CONNS="many"`, wantErr: true},
		{name: "min above max", env: with(map[string]string{"DB_POOL_MAX_CONNS": "4", "DB_POOL_MIN_CONNS": "5"}), want: `DB_POOL_MIN_CONNS="5"`, wantErr: true},
		{name: "bad duration", env: with(map[string]string{"DB_ACQUIRE_TIMEOUT": "2"}), want: `DB_ACQUIRE_TIMEOUT="2"`, wantErr: true},
		{name: "zero duration", env: with(map[string]string{"DB_POOL_MAX_CONN_LIFETIME": "0s"}), want: `DB_POOL_MAX_CONN_LIFETIME="0s"`, wantErr: true},
		{name: "bad bool", env: with(map[string]string{"DBSVC_CONNECT_PER_CALL": "yes please"}), want: `DBSVC_CONNECT_PER_CALL="yes please"`, wantErr: true},
		{name: "bad sslmode", env: with(map[string]string{"POSTGRES_SSLMODE": "on"}), want: `POSTGRES_SSLMODE="on"`, wantErr: true},
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
			got := fmt.Sprintf("{%s %s %s %s:%d %s %s %d %d %s %s %s %s %t %s}", cfg.ListenAddr, cfg.Instance, cfg.LogsvcAddr,
				cfg.PostgresHost, cfg.PostgresPort, cfg.PostgresDB, cfg.PostgresSSLMode, cfg.PoolMaxConns, cfg.PoolMinConns,
				cfg.PoolMaxConnLifetime, cfg.PoolMaxConnIdleTime, cfg.PoolHealthCheckPeriod, cfg.AcquireTimeout, cfg.ConnectPerCall, cfg.ShutdownTimeout)
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPoolConfig(t *testing.T) {
	cfg, err := config.Load(func(name string) string {
		return map[string]string{"POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p@ss:/word", "POSTGRES_DB": "store db", "DB_POOL_MAX_CONNS": "3"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := cfg.PoolConfig()
	if err != nil {
		t.Fatal(err)
	}
	cc := pc.ConnConfig
	if cc.Password != "p@ss:/word" || cc.Database != "store db" || cc.User != "u" || pc.MaxConns != 3 ||
		cc.RuntimeParams["timezone"] != "UTC" || cc.TLSConfig != nil {
		t.Errorf("pool config: user %q password %q database %q max %d timezone %q tls %v",
			cc.User, cc.Password, cc.Database, pc.MaxConns, cc.RuntimeParams["timezone"], cc.TLSConfig != nil)
	}
}
