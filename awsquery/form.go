package awsquery

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// DefaultMaxBodyBytes is the body limit used when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

const (
	formType     = "application/x-www-form-urlencoded"
	formTypeUTF8 = formType + "; charset=utf-8"
)

// ParseForm returns the Query parameters of r: for POST the form-encoded
// body followed by the URL query string (as AWS merges them), for GET the
// query string. It is the one parser that both the SigV4 middleware and the
// handler use, so they always see the same parameters.
//
// The body is read completely (at most maxBody bytes; maxBody <= 0 means
// DefaultMaxBodyBytes) and r.Body is then replaced by a fresh reader over the
// same bytes, so ParseForm may be called any number of times on one request.
//
// Errors are APIErrors: RequestEntityTooLarge, MalformedQueryString,
// UnsupportedMediaType or MethodNotAllowed.
func ParseForm(r *http.Request, maxBody int64) (url.Values, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	var values url.Values
	switch r.Method {
	case http.MethodGet:
		values = url.Values{}
	case http.MethodPost:
		if ct := r.Header.Get("Content-Type"); ct != "" && ct != formType && ct != formTypeUTF8 {
			// The two forms SDKs send need no parsing (nor its allocations).
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || mt != formType {
				return nil, UnsupportedMediaType(ct)
			}
		}
		body, err := readBody(r, maxBody)
		if err != nil {
			return nil, err
		}
		values, err = parseQuery(string(body))
		if err != nil {
			return nil, MalformedQueryString(err.Error())
		}
	default:
		return nil, MethodNotAllowed(r.Method)
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, MalformedQueryString(err.Error())
		}
		for k, vs := range q {
			values[k] = append(values[k], vs...)
		}
	}
	return values, nil
}

// maxQuickParams bounds the forms parseQuery parses itself.
const maxQuickParams = 64

// parseQuery is url.ParseQuery with the values of all parameters in one
// allocation instead of one slice each. Forms it does not handle the same
// way for sure (an error, a ';', a repeated name, many parameters) go to
// url.ParseQuery, so its answer and its errors are always ParseQuery's.
func parseQuery(q string) (url.Values, error) {
	n := strings.Count(q, "&") + 1
	if n > maxQuickParams || strings.IndexByte(q, ';') >= 0 {
		return url.ParseQuery(q)
	}
	values := make(url.Values, n)
	vs := make([]string, 0, n)
	for rest := q; rest != ""; {
		var kv string
		kv, rest, _ = strings.Cut(rest, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if _, dup := values[k]; dup || err1 != nil || err2 != nil {
			return url.ParseQuery(q)
		}
		vs = append(vs, v)
		values[k] = vs[len(vs)-1 : len(vs) : len(vs)] // cap 1: an append copies
	}
	return values, nil
}

// Body is a request body already read into memory, as the SigV4
// middleware passes it on: ParseForm takes its bytes instead of reading
// and copying them once more.
type Body struct {
	bytes.Reader
	b []byte
}

// NewBody returns a Body reading b.
func NewBody(b []byte) *Body {
	body := &Body{b: b}
	body.Reset(b)
	return body
}

// Close does nothing.
func (*Body) Close() error { return nil }

// readBody reads r.Body up to limit bytes and puts a fresh reader back.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if mb, ok := r.Body.(*Body); ok {
		if int64(len(mb.b)) > limit {
			return nil, RequestEntityTooLarge(limit)
		}
		return mb.b, nil
	}
	if r.ContentLength > limit {
		return nil, RequestEntityTooLarge(limit)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	_ = r.Body.Close()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, RequestEntityTooLarge(limit)
		}
		return nil, MalformedQueryString("the request body could not be read")
	}
	if int64(len(body)) > limit {
		return nil, RequestEntityTooLarge(limit)
	}
	r.Body = NewBody(body)
	r.GetBody = func() (io.ReadCloser, error) { return NewBody(body), nil }
	r.ContentLength = int64(len(body))
	return body, nil
}
