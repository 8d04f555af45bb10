package serving

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMainExitsOneAndLogsWhenRunFails(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		wantCode int
		wantLine string // empty: nothing logged
	}{
		{name: "stopped cleanly", wantCode: 0},
		{name: "failed", err: errors.New("listening on DBSVC_LISTEN_ADDR=x: taken"), wantCode: 1,
			wantLine: `"level":"ERROR","msg":"dbsvc stopped","service":"dbsvc","error":"listening on DBSVC_LISTEN_ADDR=x: taken"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := runMain("dbsvc", &stderr, func(ctx context.Context, logger *slog.Logger) error {
				if ctx.Err() != nil {
					t.Error("the context ended before any signal")
				}
				return tc.err
			})
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d", code, tc.wantCode)
			}
			if got := stderr.String(); tc.wantLine == "" && got != "" || !strings.Contains(got, tc.wantLine) {
				t.Fatalf("logged %q, want %q", got, tc.wantLine)
			}
		})
	}
}
