package awsquery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// Caller is the authenticated identity of a request, as established by the
// SigV4 middleware: the account and region the request acts in and the
// access key that signed it.
type Caller struct {
	AccountID   string
	Region      string
	AccessKeyID string
}

// requestKey keys the one context value holding what is known of the
// request (its caller and its id), so that setting both costs one
// context, and finding either one lookup.
type requestKey struct{}

type requestInfo struct {
	caller    Caller
	hasCaller bool
	id        string
}

func infoFrom(ctx context.Context) requestInfo {
	i, _ := ctx.Value(requestKey{}).(*requestInfo)
	if i == nil {
		return requestInfo{}
	}
	return *i
}

// WithCaller returns a copy of ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	i := infoFrom(ctx)
	i.caller, i.hasCaller = c, true
	return context.WithValue(ctx, requestKey{}, &i)
}

// WithRequest returns a copy of ctx carrying the caller c and the request
// id id: WithCaller and WithRequestID at once.
func WithRequest(ctx context.Context, c Caller, id string) context.Context {
	return context.WithValue(ctx, requestKey{}, &requestInfo{caller: c, hasCaller: true, id: id})
}

// WithRequestBody is WithRequest that also returns body as a Body to
// serve the request with, all in one allocation (the SigV4 middleware makes
// one per request).
func WithRequestBody(ctx context.Context, c Caller, id string, body []byte) (context.Context, *Body) {
	rc := &requestCtx{Context: ctx, info: requestInfo{caller: c, hasCaller: true, id: id}}
	rc.body.b = body
	rc.body.Reset(body)
	return rc, &rc.body
}

// requestCtx is a context carrying a requestInfo, as context.WithValue
// would, together with the request's Body.
type requestCtx struct {
	context.Context
	info requestInfo
	body Body
}

func (c *requestCtx) Value(key any) any {
	if key == (requestKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

// CallerFrom returns the Caller stored in ctx by WithCaller, and whether
// there was one.
func CallerFrom(ctx context.Context) (Caller, bool) {
	i := infoFrom(ctx)
	return i.caller, i.hasCaller
}

// WithRequestID returns a copy of ctx carrying the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	i := infoFrom(ctx)
	i.id = id
	return context.WithValue(ctx, requestKey{}, &i)
}

// RequestID returns the id of the request ctx belongs to, or "" outside a
// request served by a Query handler.
func RequestID(ctx context.Context) string {
	return infoFrom(ctx).id
}

// NewRequestID returns a fresh random request id in the UUID version 4 form
// AWS uses (e.g. "0f8d2f2c-6f1e-4c3a-9a51-2f0a7b1c9d3e").
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go ≥ 1.24 crashes instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}
