package sigv4

import (
	"context"
	"io"
	"net/http"
	"time"

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
	// Regions reports whether a region is served, for unauthenticated mode
	// (the Verifier has its own); nil means every well-formed name.
	Regions func(region string) bool
	// Budget, when set, bounds the memory that bodies being read and served
	// hold together: each request reserves its Content-Length (or
	// MaxBodyBytes when it has none) before its body is read, waiting at
	// most BudgetWait (0 means DefaultBudgetWait), and is answered 503
	// ServiceUnavailable when none frees up in time.
	Budget     *Budget
	BudgetWait time.Duration
	// Next is the handler to call once a request is authenticated.
	Next http.Handler
}

// DefaultBudgetWait is how long a request waits for body memory.
const DefaultBudgetWait = 2 * time.Second

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
//
// With a Verifier, every check that needs no body runs first (Precheck): a
// request without a signature, or with one that can never verify, is
// answered at once and its connection closed, without reading the body.
// The body is then read under the Budget, so that slow or stalled bodies
// cannot together hold more memory than it allows.
func (m *Middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := m.maxBody()
	if r.ContentLength > limit {
		m.refuse(w, r, errTooLarge(limit))
		return
	}
	var pre *Prechecked
	var caller Caller
	if m.Verifier != nil {
		var err error
		if pre, err = m.Verifier.Precheck(r); err != nil {
			m.refuse(w, r, err)
			return
		}
	} else {
		// Derived once, from the headers only: the body does not change it.
		caller = CallerFromUnsigned(r, m.unsignedDefault(), m.DefaultAccount)
		if m.Regions != nil && !m.Regions(caller.Region) {
			m.refuse(w, r, errUnservedRegion(caller.Region))
			return
		}
	}

	reserve := limit
	if r.ContentLength >= 0 {
		reserve = r.ContentLength
	}
	if m.Budget != nil && reserve > 0 {
		ok := m.Budget.TryAcquire(reserve)
		if !ok {
			ctx, cancel := context.WithTimeout(r.Context(), m.budgetWait())
			ok = m.Budget.Acquire(ctx, reserve)
			cancel()
		}
		if !ok {
			m.refuse(w, r, newError(CodeServiceUnavailable, http.StatusServiceUnavailable, "The request has failed due to a temporary failure of the server."))
			return
		}
		defer m.Budget.Release(reserve)
	}
	body, err := readBody(r, limit)
	if int64(len(body)) > limit {
		m.refuse(w, r, errTooLarge(limit))
		return
	}
	if err != nil {
		m.refuse(w, r, newError(CodeIncompleteBody, http.StatusBadRequest, "The request body could not be read completely."))
		return
	}

	if pre != nil {
		caller, err = pre.Verify(r, body)
		if err != nil {
			m.writeError(w, r, err)
			return
		}
	}

	// The request id is made here, with the caller in one context value;
	// the handler answers under it.
	ctx := r.Context()
	id := awsquery.RequestID(ctx)
	if id == "" {
		id = awsquery.NewRequestID()
	}
	ctx, b := awsquery.WithRequestBody(ctx, caller, id, body)
	r2 := r.WithContext(ctx)
	r2.Body = b
	r2.ContentLength = int64(len(body))
	if m.Next == nil {
		http.NotFound(w, r2)
		return
	}
	m.Next.ServeHTTP(w, r2)
}

// readBody reads at most limit+1 bytes of r's body into a buffer sized from
// Content-Length, so that a body costs its own size and not the doublings of
// a growing buffer.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	size := int64(512)
	if r.ContentLength > 0 && r.ContentLength <= limit {
		size = r.ContentLength + 1 // +1: room to see EOF without growing
	}
	buf := make([]byte, 0, size)
	body := io.LimitReader(r.Body, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		} else if err != nil {
			return buf, err
		}
	}
}

func (m *Middleware) unsignedDefault() string {
	if m.DefaultRegion == "" {
		return DefaultRegion
	}
	return m.DefaultRegion
}

func (m *Middleware) budgetWait() time.Duration {
	if m.BudgetWait <= 0 {
		return DefaultBudgetWait
	}
	return m.BudgetWait
}

// refuse answers err before the body was read and closes the connection
// at once: net/http would otherwise read (and wait for) up to 256 KiB of
// the remaining body to keep the connection alive, which a client sending
// it slowly stretches to the read timeout.
func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Connection", "close")
	m.writeError(w, r, err)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	conn, brw, herr := rc.Hijack()
	if herr != nil {
		return // not hijackable (HTTP/2, a test recorder): the server closes it
	}
	brw.Flush()
	// Half-close so that the client reads the whole answer, then close
	// shortly after, as net/http does, so that unread body bytes do not
	// turn the close into a reset that could destroy the answer.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	go func() {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.Copy(io.Discard, io.LimitReader(conn, 256<<10))
		conn.Close()
	}()
}

func errTooLarge(limit int64) *Error {
	return newError(CodeRequestEntityTooLarge, http.StatusRequestEntityTooLarge,
		"Request body must be at most %d bytes.", limit)
}

// writeError answers err as a Query error document with a fresh request id.
func (m *Middleware) writeError(w http.ResponseWriter, r *http.Request, err error) {
	m.API.WriteError(w, r, err, awsquery.NewRequestID())
}
