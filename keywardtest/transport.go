package keywardtest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// readRetryTransport reads every answer whole before handing it to the
// SDK, and sends a read-only request (a Describe or List action) once more
// if the connection broke while its answer was read. Go's HTTP client now
// and then closes a connection under a response that keyward already sent
// whole, under heavy load ("use of closed network connection",
// aws/aws-sdk-go-v2#1825, #2737); that says nothing about keyward, and a
// read can safely be asked again. Writes are never retried: a test must
// see the one answer its call got.
type readRetryTransport struct{ next http.RoundTripper }

func (t readRetryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	readOnly := bytes.Contains(body, []byte("Action=Describe")) || bytes.Contains(body, []byte("Action=List"))
	for attempt := 0; ; attempt++ {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		resp, err := t.next.RoundTrip(r)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				resp.Body = io.NopCloser(bytes.NewReader(b))
				return resp, nil
			}
		}
		if !readOnly || attempt == 2 || !strings.Contains(err.Error(), "use of closed network connection") {
			return nil, err
		}
	}
}

// HTTPClient is the HTTP client for an SDK client of a test's own server
// (one not made by New): its transport is readRetryTransport's.
func HTTPClient() *http.Client {
	return &http.Client{Transport: readRetryTransport{next: testTransport()}}
}

// testTransport is Go's default transport keeping as many idle
// connections per host as the SDK's own client does.
func testTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 100
	return t
}
