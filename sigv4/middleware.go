package sigv4

import (
	"bytes"
	"io"
	"net/http"

	"keyward/awsquery"
)

// DefaultMaxBodyBytes bounds request bodies when Middleware.MaxBodyBytes
// is 0. Query API requests are form-encoded parameter lists, far smaller.
const DefaultMaxBodyBytes = 1 << 20

// DefaultRegion is the region of unsigned callers whose request names none.
const DefaultRegion = "us-east-1"

// Middleware authenticates requests before they reach the Query API
// handler. It reads the whole body (the signature covers its hash), verifies
// the signature, or in unauthenticated mode derives the caller without
// verifying anything, then hands the handler a request whose body can be
// read again and whose context carries the caller.
type Middleware struct {
	// Verifier checks signatures; nil means unauthenticated mode, in which
	// every request is served as CallerFromUnsigned describes.
	Verifier *Verifier
	// DefaultRegion and DefaultAccount are the unauthenticated mode's
	// defaults; "" means DefaultRegion ("us-east-1") and DefaultAccountID.
	DefaultRegion  string
	DefaultAccount string
	// MaxBodyBytes bounds the body; 0 means DefaultMaxBodyBytes (1 MiB).
	// Larger bodies are answered 413 RequestEntityTooLarge.
	MaxBodyBytes int64
	// API is the Query API whose namespace error documents carry (e.g. the
	// ElastiCache one); the zero API writes them without xmlns, which
	// clients accept as well.
	API awsquery.API
	// Next is the handler to call once a request is authenticated.
	Next http.Handler
}

// Wrap returns a handler that authenticates requests as m does and then
// calls next.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	c := *m
	c.Next = next
	return &c
}

func (m *Middleware) maxBody() int64 {
	if m.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return m.MaxBodyBytes
}

// ServeHTTP authenticates r and passes it on to m.Next, or answers an AWS
// Query error.
func (m *Middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := m.maxBody()
	if r.ContentLength > limit {
		m.writeError(w, r, errTooLarge(limit))
		return
	}
	var body []byte
	var err error
	if r.Body != nil {
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	}
	if int64(len(body)) > limit {
		m.writeError(w, r, errTooLarge(limit))
		return
	}
	if err != nil {
		m.writeError(w, r, newError(CodeIncompleteBody, http.StatusBadRequest, "The request body could not be read completely."))
		return
	}

	var caller Caller
	if m.Verifier != nil {
		caller, err = m.Verifier.Verify(r, body)
		if err != nil {
			m.writeError(w, r, err)
			return
		}
	} else {
		region := m.DefaultRegion
		if region == "" {
			region = DefaultRegion
		}
		caller = CallerFromUnsigned(r, region, m.DefaultAccount)
	}

	r2 := r.WithContext(awsquery.WithCaller(r.Context(), caller))
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r2.ContentLength = int64(len(body))
	if m.Next == nil {
		http.NotFound(w, r2)
		return
	}
	m.Next.ServeHTTP(w, r2)
}

func errTooLarge(limit int64) *Error {
	return newError(CodeRequestEntityTooLarge, http.StatusRequestEntityTooLarge,
		"Request body must be at most %d bytes.", limit)
}

// writeError answers err as a Query error document with a fresh request id.
func (m *Middleware) writeError(w http.ResponseWriter, r *http.Request, err error) {
	m.API.WriteError(w, r, err, awsquery.NewRequestID())
}
