// Package serving is what the store's Go services (dbsvc-go, logsvc-go) share
// to run as a process: the Prometheus endpoint with the gRPC server metrics,
// the gRPC server's mutual TLS, health, reflection and graceful shutdown,
// and main's logger and signal handling; pki and cmd/certs make the
// certificates.
//
// It lives once, here, so that the two services cannot drift apart in how
// they start, stop and are scraped: a fix to any of it is a fix to both. What
// only one service needs (its collectors, what its health follows, its
// background chores) stays in that service and is handed in.
package serving
