package engine

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"keyward/internal/atomicfile"
)

// caValidity is the lifetime of a new CA; node certificates live as long
// as the CA that signed them and are reissued when a node starts with one
// that is missing, expiring within certRenewBefore or from another CA.
const (
	caValidity      = 10 * 365 * 24 * time.Hour
	certRenewBefore = 30 * 24 * time.Hour
)

// CA is the certificate authority that signs the nodes' server certificates.
// Clients verify TLS nodes against CertFile (DataDir/tls/ca.pem).
type CA struct {
	CertFile string // PEM certificate, world-readable
	KeyFile  string // PEM PKCS#8 private key, mode 0600

	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// loadOrCreateCA loads the CA from dir/ca.pem and dir/ca.key, creating an
// ECDSA P-256 CA valid for ten years, name-constrained to loopback
// (127.0.0.0/8 and localhost), if neither exists. A CA created by an older
// keyward, without the constraints, is kept as it is: clients trust that
// ca.pem. Remove dir to get a constrained one (nodes get new certificates
// as they start; clients then need the new ca.pem).
func loadOrCreateCA(dir string) (*CA, error) {
	ca := &CA{CertFile: filepath.Join(dir, "ca.pem"), KeyFile: filepath.Join(dir, "ca.key")}
	certPEM, certErr := os.ReadFile(ca.CertFile)
	keyPEM, keyErr := os.ReadFile(ca.KeyFile)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		if err := ca.create(dir); err != nil {
			return nil, err
		}
		return ca, nil
	case certErr != nil:
		return nil, fmt.Errorf("engine: read CA certificate: %w", certErr)
	case keyErr != nil:
		return nil, fmt.Errorf("engine: read CA key: %w", keyErr)
	}
	if err := ca.parse(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("engine: load CA from %s: %w", dir, err)
	}
	return ca, nil
}

func (ca *CA) create(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("engine: create CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("engine: create CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "keyward node CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// Nodes listen on loopback only: a client that trusts ca.pem
		// (even in a system trust store) trusts nothing else it signs.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
		PermittedIPRanges:           []*net.IPNet{{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("engine: create CA: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("engine: create CA: %w", err)
	}
	// Key first: a crash in between leaves a key without a certificate,
	// which loadOrCreateCA reports instead of silently replacing the CA.
	if err := atomicfile.Write(ca.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("engine: create CA: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := atomicfile.Write(ca.CertFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("engine: create CA: %w", err)
	}
	return ca.parse(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func (ca *CA) parse(certPEM, keyPEM []byte) error {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return errors.New("no CERTIFICATE block in ca.pem")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return err
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return errors.New("no PEM block in ca.key")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("ca.key does not match ca.pem")
	}
	ca.cert, ca.key = cert, key
	ca.pool = x509.NewCertPool()
	ca.pool.AddCert(cert)
	return nil
}

// ensureServerCert writes certFile and keyFile, a server certificate for
// 127.0.0.1 and localhost signed by ca, unless a usable one is there. The
// certificate also allows client authentication because replicas present
// it to their primary with tls-replication.
func (ca *CA) ensureServerCert(certFile, keyFile, name string, hosts []string) error {
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil && !ip.Equal(ips[0]) {
			ips = append(ips, ip)
		}
	}
	if ca.certUsable(certFile, keyFile, ips) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	notAfter := now.Add(caValidity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  ips,
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func (ca *CA) certUsable(certFile, keyFile string, ips []net.IP) bool {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Until(cert.NotAfter) < certRenewBefore {
		return false
	}
	_, err = cert.Verify(x509.VerifyOptions{
		Roots:     ca.pool,
		DNSName:   "127.0.0.1",
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	// Exactly the addresses wanted: one the node no longer may serve (an
	// endpoint of a group it left) is dropped too.
	return err == nil && slices.EqualFunc(cert.IPAddresses, ips, func(a, b net.IP) bool { return a.Equal(b) })
}

// certHosts are the addresses a TLS node's certificate names besides
// 127.0.0.1: its own, and the endpoint addresses it may serve.
func certHosts(rec record) []string {
	return append([]string{rec.host()}, rec.Spec.CertHosts...)
}

// TLSConfig returns a client configuration that verifies nodes against ca.
func (ca *CA) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
