package serving

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// The services' identities: the common name and DNS name of each one's
// certificate (package pki makes them).
const (
	IdentityAPI = "api"
	IdentityDB  = "dbsvc"
	IdentityLog = "logsvc"
)

// Transport is how a service's gRPC server takes calls and its clients make
// them, as both services read it from the environment: mutual TLS from
// TLS_DIR (required), and reflection only when GRPC_REFLECTION is true.
type Transport struct {
	// TLS nil is plaintext, which only in-process tests and benchmarks use.
	TLS        *TLS
	Reflection bool
}

// TransportFromEnv reads TLS_DIR and GRPC_REFLECTION.
func TransportFromEnv(env Env) (Transport, error) {
	reflection, err := env.Bool("GRPC_REFLECTION", false)
	if err != nil {
		return Transport{}, err
	}
	t, err := LoadTLS(env("TLS_DIR"))
	if err != nil {
		return Transport{}, err
	}
	return Transport{TLS: t, Reflection: reflection}, nil
}

// ServerOptions: see TLS.ServerOptions; none in plaintext.
func (t Transport) ServerOptions(callers ...string) []grpc.ServerOption {
	if t.TLS == nil {
		return nil
	}
	return t.TLS.ServerOptions(callers...)
}

// DialOption: see TLS.DialOption; plaintext without TLS.
func (t Transport) DialOption(server string) grpc.DialOption {
	if t.TLS == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return t.TLS.DialOption(server)
}

// TLS is a service's own certificate and the store's authority, for mutual
// TLS with the other services.
type TLS struct {
	certificate tls.Certificate
	authority   *x509.CertPool
}

// LoadTLS reads dir/tls.crt, dir/tls.key and dir/ca.crt (TLS_DIR).
func LoadTLS(dir string) (*TLS, error) {
	if dir == "" {
		return nil, fmt.Errorf("TLS_DIR is not set: the services call each other over mutual TLS; " +
			"set it to a directory with ca.crt, tls.crt and tls.key (make up and compose make them)")
	}
	certificate, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("TLS_DIR=%s: %w", dir, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("TLS_DIR=%s: %w", dir, err)
	}
	authority := x509.NewCertPool()
	if !authority.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("TLS_DIR=%s: ca.crt holds no certificate", dir)
	}
	return &TLS{certificate: certificate, authority: authority}, nil
}

// ServerOptions make a gRPC server that takes only callers with a
// certificate from the store's authority, and lets only the identities in
// callers call its services. Any such caller may ask for its health, so that
// each service's probe can use the service's own certificate.
func (t *TLS) ServerOptions(callers ...string) []grpc.ServerOption {
	config := &tls.Config{
		Certificates: []tls.Certificate{t.certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    t.authority,
		MinVersion:   tls.VersionTLS13,
	}
	authorize := func(ctx context.Context, method string) error {
		if strings.HasPrefix(method, "/"+healthpb.Health_ServiceDesc.ServiceName+"/") {
			return nil
		}
		caller := callerIdentity(ctx)
		if slices.Contains(callers, caller) {
			return nil
		}
		return status.Errorf(codes.PermissionDenied,
			"the caller %q may not call %s; only %s may", caller, method, strings.Join(callers, ", "))
	}
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(config)),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			if err := authorize(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			if err := authorize(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return next(srv, ss)
		}),
	}
}

// DialOption makes a client present this service's certificate and accept
// only the server whose certificate names server (an identity), whatever
// address it was reached at.
func (t *TLS) DialOption(server string) grpc.DialOption {
	return grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{t.certificate},
		RootCAs:      t.authority,
		ServerName:   server,
		MinVersion:   tls.VersionTLS13,
	}))
}

// callerIdentity is the common name of the caller's verified certificate.
func callerIdentity(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return ""
	}
	return info.State.VerifiedChains[0][0].Subject.CommonName
}
