// Package pki makes the store's own certificate authority and one
// certificate per service, for mutual TLS between the services: each
// certificate's subject common name and only DNS name is the service's
// identity (api, dbsvc, logsvc), which servers check callers against and
// clients check servers against (serving.LoadTLS). cmd/certs runs it.
//
// Make(dir, ...) writes dir/ca/ca.{crt,key} and, for each identity,
// dir/<identity>/ with ca.crt, tls.crt and tls.key (the names of a Kubernetes
// TLS secret). Run again, it keeps what is still good: the authority, and
// each certificate it signed that is valid for another 30 days.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// A certificate closer than this to its end is issued again.
	renewBefore = 30 * 24 * time.Hour
)

// Identity is a service to issue a certificate for. UID, when not negative,
// becomes the owner of its files (compose mounts each identity's directory
// into its service alone, which runs as that uid).
type Identity struct {
	Name string
	UID  int
}

// Make writes the authority and a certificate for each identity under dir,
// keeping what is still good.
func Make(dir string, identities []Identity, now time.Time) error {
	ca, caKey, err := authority(filepath.Join(dir, "ca"), now)
	if err != nil {
		return err
	}
	for _, id := range identities {
		if id.Name == "" || strings.ContainsAny(id.Name, "/.") {
			return fmt.Errorf("%q is not an identity (a service name such as dbsvc)", id.Name)
		}
		if err := issue(filepath.Join(dir, id.Name), id.Name, id.UID, ca, caKey, now); err != nil {
			return fmt.Errorf("%s: %w", id.Name, err)
		}
	}
	return nil
}

// authority loads the CA in dir, or makes it when there is none.
func authority(dir string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	cert, key, err := load(certFile, keyFile)
	if err == nil && now.Add(renewBefore).Before(cert.NotAfter) {
		return cert, key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "merch-store services CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	cert, err = sign(template, template, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, write(dir, -1, map[string][]byte{"ca.crt": certPEM(cert), "ca.key": keyPEM(key)})
}

// issue writes dir/{ca.crt,tls.crt,tls.key} for name unless a certificate
// there is from ca and valid long enough.
func issue(dir, name string, uid int, ca *x509.Certificate, caKey crypto.Signer, now time.Time) error {
	if cert, _, err := load(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")); err == nil &&
		cert.CheckSignatureFrom(ca) == nil && now.Add(renewBefore).Before(cert.NotAfter) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	cert, err := sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    []string{name},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(leafValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, ca, key.Public(), caKey)
	if err != nil {
		return err
	}
	return write(dir, uid, map[string][]byte{"ca.crt": certPEM(ca), "tls.crt": certPEM(cert), "tls.key": keyPEM(key)})
}

func sign(template, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	template.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func load(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certBytes, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	certBlock, _ := pem.Decode(certBytes)
	keyBlock, _ := pem.Decode(keyBytes)
	if certBlock == nil || keyBlock == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM; remove both to make new ones", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certFile, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s holds no signing key", keyFile)
	}
	return cert, signer, nil
}

func certPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

func keyPEM(key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // an ECDSA key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// write puts files in dir: keys readable by their owner alone, certificates
// by anyone. uid >= 0 makes it the owner of dir and the files.
func write(dir string, uid int, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			mode = 0o600
		}
		path := filepath.Join(dir, name)
		// Written beside and renamed: a service starting meanwhile never reads half a file.
		tmp := path + ".new"
		if err := os.WriteFile(tmp, data, mode); err != nil {
			return err
		}
		if uid >= 0 {
			if err := os.Chown(tmp, uid, uid); err != nil {
				return err
			}
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	if uid >= 0 {
		return os.Chown(dir, uid, uid)
	}
	return nil
}
