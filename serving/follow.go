package serving

import (
	"context"
	"log/slog"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Dependency is what a service's health follows: its database, its broker.
type Dependency struct {
	// Name as the log says it, e.g. "postgresql".
	Name string
	// Check answers nil while the dependency works; it gets Interval to answer.
	Check func(context.Context) error
	// Interval between checks while the dependency answers.
	Interval time.Duration
	// Recheck is how soon it is checked again while it does not answer; zero is
	// Interval. A starting dependency answers a few seconds after the service, and
	// what waits on the service's health (`make up`, readiness probes) need not wait
	// out a whole Interval more.
	Recheck time.Duration
}

// Follow keeps the health status of every name the server was made with in step
// with whether dep answers, until ctx is done, so that the service recovers
// without a restart. Each change is logged once.
func (s *Server) Follow(ctx context.Context, dep Dependency, logger *slog.Logger) {
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		checkCtx, cancel := context.WithTimeout(ctx, dep.Interval)
		err := dep.Check(checkCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := healthpb.HealthCheckResponse_SERVING
		if err != nil {
			now = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if now != last {
			if err != nil {
				logger.Warn(dep.Name+" does not answer; health NOT_SERVING", "error", err)
			} else {
				logger.Info(dep.Name + " answers; health SERVING")
			}
			for _, name := range s.healthNames {
				s.Health.SetServingStatus(name, now)
			}
			last = now
		}
		wait := dep.Interval
		if err != nil && dep.Recheck > 0 && dep.Recheck < wait {
			wait = dep.Recheck
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
