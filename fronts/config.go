package fronts

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"keyward/front"
	"keyward/iamauth"
	"keyward/sigv4"
)

// Spec is what one front serves.
type Spec struct {
	// ID is the node's id (engine.NodeSpec.ID).
	ID string `json:"id"`
	// Backend is the node's address.
	Backend string `json:"backend"`
	// Resource is the cache the node belongs to; CacheID identifies it for
	// front.Secret (keyward uses the cache's ARN).
	Resource iamauth.Resource `json:"resource"`
	CacheID  string           `json:"cacheId"`
}

// config is front.json: a Spec plus what the Manager fills in.
type config struct {
	Spec
	Port     int    `json:"port"`
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
	CAFile   string `json:"caFile"`
}

func readConfig(dir string) (config, error) {
	var c config
	b, err := os.ReadFile(filepath.Join(dir, "front.json"))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("fronts: %s: %w", dir, err)
	}
	return c, nil
}

// server builds the front.Server for a configuration. keyDir holds the key
// and credentials files shared by every front.
func server(c config, keyDir string) (*front.Server, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("fronts: certificate: %w", err)
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("fronts: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("fronts: CA file holds no certificate")
	}
	key, err := readKey(filepath.Join(keyDir, "key"))
	if err != nil {
		return nil, err
	}
	creds := &credsFile{path: filepath.Join(keyDir, "credentials")}
	return &front.Server{
		TLS:        &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Backend:    c.Backend,
		BackendTLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Resource:   c.Resource,
		Verifiers:  creds.verifier,
		Key:        key,
		CacheID:    c.CacheID,
	}, nil
}

// credsFile is the credentials file, reloaded when it changes.
type credsFile struct {
	path string
	mu   sync.Mutex
	mod  int64
	size int64
	v    *iamauth.Verifier
}

// verifier returns the verifier for the file's current contents; nil when
// it cannot be read (then no token verifies).
func (f *credsFile) verifier() *iamauth.Verifier {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	if err != nil {
		return nil
	}
	if f.v != nil && st.ModTime().UnixNano() == f.mod && st.Size() == f.size {
		return f.v
	}
	creds, err := sigv4.LoadCredentialsFile(f.path)
	if err != nil {
		return nil
	}
	f.mod, f.size = st.ModTime().UnixNano(), st.Size()
	f.v = &iamauth.Verifier{SigV4: sigv4.NewVerifier(creds)}
	return f.v
}
