package serving

import (
	"context"
	"crypto/tls"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/sustech-merch/store/serving/pki"
)

// certificates makes an authority and certificates for names in a fresh
// directory, as `make up` does; a second, unrelated authority signs
// "stranger/api", an api certificate the store never issued.
func certificates(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	var ids []pki.Identity
	for _, name := range names {
		ids = append(ids, pki.Identity{Name: name, UID: -1})
	}
	if err := pki.Make(dir, ids, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := pki.Make(filepath.Join(dir, "stranger"), []pki.Identity{{Name: IdentityAPI, UID: -1}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadTLS(t *testing.T, dir string) *TLS {
	t.Helper()
	loaded, err := LoadTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return loaded
}

// serveTLS runs a server as dbsvc does: its own certificate, callers limited
// to the API, reflection off. It returns the address.
func serveTLS(t *testing.T, dir string) string {
	t.Helper()
	srv := NewServer(nil, []string{""}, loadTLS(t, filepath.Join(dir, IdentityDB)).ServerOptions(IdentityAPI)...)
	testgrpc.RegisterTestServiceServer(srv.GRPC, &blockingService{entered: make(chan struct{}, 100), released: closedChannel()})
	lis := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- srv.Run(ctx, lis, slog.New(slog.DiscardHandler), Shutdown{Timeout: time.Second})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

func closedChannel() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func call(t *testing.T, addr string, creds grpc.DialOption) (codes.Code, codes.Code) {
	t.Helper()
	conn, err := grpc.NewClient(addr, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = testgrpc.NewTestServiceClient(conn).EmptyCall(ctx, &testgrpc.Empty{})
	_, healthErr := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return status.Code(err), status.Code(healthErr)
}

func TestOnlyTheAllowedIdentityCallsAndAnyStoreCertificateAsksHealth(t *testing.T) {
	dir := certificates(t, IdentityAPI, IdentityDB, IdentityLog)
	addr := serveTLS(t, dir)
	for _, tt := range []struct {
		name         string
		creds        grpc.DialOption
		call, health codes.Code
	}{
		{"the API", loadTLS(t, filepath.Join(dir, IdentityAPI)).DialOption(IdentityDB), codes.OK, codes.OK},
		{"the logging service", loadTLS(t, filepath.Join(dir, IdentityLog)).DialOption(IdentityDB), codes.PermissionDenied, codes.OK},
		{"its own probe", loadTLS(t, filepath.Join(dir, IdentityDB)).DialOption(IdentityDB), codes.PermissionDenied, codes.OK},
		{"an api certificate from another authority", loadTLS(t, filepath.Join(dir, "stranger", IdentityAPI)).DialOption(IdentityDB), codes.Unavailable, codes.Unavailable},
		{"plaintext", grpc.WithTransportCredentials(insecure.NewCredentials()), codes.Unavailable, codes.Unavailable},
		{"TLS without a certificate", grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: loadTLS(t, filepath.Join(dir, IdentityAPI)).authority, ServerName: IdentityDB,
		})), codes.Unavailable, codes.Unavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			callCode, healthCode := call(t, addr, tt.creds)
			if callCode != tt.call || healthCode != tt.health {
				t.Errorf("call %v, health %v; want %v, %v", callCode, healthCode, tt.call, tt.health)
			}
		})
	}
}

func TestAClientRefusesAServerWithAnotherIdentity(t *testing.T) {
	dir := certificates(t, IdentityAPI, IdentityDB)
	addr := serveTLS(t, dir)
	// The dbsvc certificate does not name logsvc: a client that wants the
	// logging service is not fooled by whatever answers at the address.
	callCode, _ := call(t, addr, loadTLS(t, filepath.Join(dir, IdentityAPI)).DialOption(IdentityLog))
	if callCode != codes.Unavailable {
		t.Errorf("call %v; want Unavailable (handshake refused)", callCode)
	}
}

func TestReflectionIsOffUnlessRegistered(t *testing.T) {
	dir := certificates(t, IdentityAPI, IdentityDB)
	addr := serveTLS(t, dir)
	conn, err := grpc.NewClient(addr, loadTLS(t, filepath.Join(dir, IdentityAPI)).DialOption(IdentityDB))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err == nil {
		_ = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("reflection answered %v; want Unimplemented", err)
	}
}

func TestLoadTLSSaysWhatIsMissing(t *testing.T) {
	if _, err := LoadTLS(""); err == nil {
		t.Error("an empty TLS_DIR loaded")
	}
	if _, err := LoadTLS(t.TempDir()); err == nil {
		t.Error("a directory without certificates loaded")
	}
}
