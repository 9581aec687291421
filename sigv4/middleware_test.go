package sigv4

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/smithy-go"

	"keyward/awsquery"
)

const describeUsersXML = `<DescribeUsersResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><DescribeUsersResult><Users></Users></DescribeUsersResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></DescribeUsersResponse>`

// recorder is a minimal Query handler: it answers an empty DescribeUsers and
// records the caller and body it was handed.
type recorder struct {
	mu      sync.Mutex
	callers []awsquery.Caller
	bodies  []string
	lengths []int64
}

func (h *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := awsquery.CallerFrom(r.Context())
	if !ok {
		http.Error(w, "no caller", http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.callers = append(h.callers, c)
	h.bodies = append(h.bodies, string(body))
	h.lengths = append(h.lengths, r.ContentLength)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, describeUsersXML)
}

func (h *recorder) last(t *testing.T) (awsquery.Caller, string, int64) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.callers) == 0 {
		t.Fatal("handler not called")
	}
	n := len(h.callers) - 1
	return h.callers[n], h.bodies[n], h.lengths[n]
}

func (h *recorder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.callers)
}

func newServer(t *testing.T, m *Middleware) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(m.Wrap(rec))
	t.Cleanup(srv.Close)
	return srv, rec
}

func ecClient(srv *httptest.Server, keyID, secret, region string) *elasticache.Client {
	return elasticache.New(elasticache.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		BaseEndpoint: aws.String(srv.URL),
		Retryer:      aws.NopRetryer{},
	})
}

// wantAPIError checks an SDK error's code, and its HTTP status.
func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("status of %v, want %d", err, status)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatal("secret in error")
	}
}

func TestSDKEndToEnd(t *testing.T) {
	v := testVerifier(time.Time{})
	v.Now = nil // real clock: the SDK signs with it
	srv, rec := newServer(t, &Middleware{Verifier: v})
	ctx := context.Background()

	out, err := ecClient(srv, testKeyID, testSecret, "ap-southeast-2").DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("alice")})
	if err != nil {
		t.Fatalf("valid request: %v", err)
	}
	if len(out.Users) != 0 {
		t.Fatalf("users = %v", out.Users)
	}
	caller, body, length := rec.last(t)
	if want := (awsquery.Caller{AccountID: testAccount, Region: "ap-southeast-2", AccessKeyID: testKeyID}); caller != want {
		t.Fatalf("caller = %+v, want %+v", caller, want)
	}
	if !strings.Contains(body, "Action=DescribeUsers") || !strings.Contains(body, "UserId=alice") || length != int64(len(body)) {
		t.Fatalf("handler got body %q, length %d", body, length)
	}

	// The other key maps to its own account.
	if _, err := ecClient(srv, "AKIAOTHER", "other/secret", "us-west-2").DescribeUsers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := rec.last(t); c.AccountID != "210987654321" || c.Region != "us-west-2" {
		t.Fatalf("caller = %+v", c)
	}

	n := rec.count()
	_, err = ecClient(srv, testKeyID, "wrong-secret", "eu-west-1").DescribeUsers(ctx, nil)
	wantAPIError(t, err, CodeSignatureDoesNotMatch, 403)

	_, err = ecClient(srv, "AKIANOBODY", testSecret, "eu-west-1").DescribeUsers(ctx, nil)
	wantAPIError(t, err, CodeInvalidClientTokenID, 403)

	_, err = ecClient(srv, testKeyID, "other/secret", "eu-west-1").DescribeUsers(ctx, nil)
	wantAPIError(t, err, CodeSignatureDoesNotMatch, 403)

	if rec.count() != n {
		t.Fatal("handler called for a rejected request")
	}
}

func TestSDKStaleClock(t *testing.T) {
	v := testVerifier(time.Time{})
	v.Now = func() time.Time { return time.Now().Add(20 * time.Minute) }
	srv, rec := newServer(t, &Middleware{Verifier: v})
	_, err := ecClient(srv, testKeyID, testSecret, "eu-west-1").DescribeUsers(context.Background(), nil)
	wantAPIError(t, err, CodeSignatureDoesNotMatch, 403)
	var ae smithy.APIError
	errors.As(err, &ae)
	if !strings.HasPrefix(ae.ErrorMessage(), "Signature expired: ") {
		t.Fatalf("message = %q", ae.ErrorMessage())
	}
	if rec.count() != 0 {
		t.Fatal("handler called")
	}
}

func TestSDKUnauthenticatedMode(t *testing.T) {
	srv, rec := newServer(t, &Middleware{DefaultRegion: "us-east-2"})
	if _, err := ecClient(srv, "dummy", "dummy", "eu-central-1").DescribeUsers(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	c, _, _ := rec.last(t)
	if want := (awsquery.Caller{AccountID: DefaultAccountID, Region: "eu-central-1", AccessKeyID: "dummy"}); c != want {
		t.Fatalf("caller = %+v, want %+v", c, want)
	}

	resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(queryBody))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c, body, _ := rec.last(t)
	if c.Region != "us-east-2" || c.AccountID != DefaultAccountID || body != queryBody {
		t.Fatalf("unsigned: caller %+v, body %q", c, body)
	}
}

type errorDoc struct {
	Type      string `xml:"Error>Type"`
	Code      string `xml:"Error>Code"`
	Message   string `xml:"Error>Message"`
	RequestID string `xml:"RequestId"`
}

// do sends r to srv and decodes the error document, if any.
func do(t *testing.T, r *http.Request) (int, errorDoc) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc errorDoc
	if resp.StatusCode != http.StatusOK {
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("status %d, body %q: %v", resp.StatusCode, b, err)
		}
		if doc.Type != "Sender" || doc.RequestID == "" {
			t.Fatalf("error document %s", b)
		}
	}
	return resp.StatusCode, doc
}

func clientRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return r
}

func TestMiddlewareRawErrors(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	v := testVerifier(now)
	srv, rec := newServer(t, &Middleware{Verifier: v, MaxBodyBytes: 1024})

	// Valid, over the network (Host, Content-Length as the server sees them).
	r := clientRequest(t, http.MethodPost, srv.URL, queryBody)
	sdkSign(t, r, []byte(queryBody), testKeyID, testSecret, testRegion, now)
	if status, doc := do(t, r); status != 200 {
		t.Fatalf("valid: %d %+v", status, doc)
	}
	if c, body, _ := rec.last(t); c.Region != testRegion || body != queryBody {
		t.Fatalf("caller %+v body %q", c, body)
	}

	// Same signature, tampered body.
	r2 := clientRequest(t, http.MethodPost, srv.URL, "Action=DescribeUsers&Version=2015-02-03")
	r2.Header = r.Header.Clone()
	if status, doc := do(t, r2); status != 403 || doc.Code != CodeSignatureDoesNotMatch || doc.Message != msgSignatureDoesNotMatch {
		t.Fatalf("tampered: %d %+v", status, doc)
	}

	// No Authorization at all.
	if status, doc := do(t, clientRequest(t, http.MethodPost, srv.URL, queryBody)); status != 403 || doc.Code != CodeMissingAuthenticationToken || doc.Message != "Request is missing Authentication Token" {
		t.Fatalf("missing: %d %+v", status, doc)
	}

	// Malformed header.
	r = clientRequest(t, http.MethodPost, srv.URL, queryBody)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20261126/us-east-1/elasticache/aws4_request")
	r.Header.Set("X-Amz-Date", now.Format(amzDateLayout))
	if status, doc := do(t, r); status != 400 || doc.Code != CodeIncompleteSignature || !strings.Contains(doc.Message, "'Signature'") {
		t.Fatalf("malformed: %d %+v", status, doc)
	}

	// Unknown key.
	r = clientRequest(t, http.MethodPost, srv.URL, queryBody)
	sdkSign(t, r, []byte(queryBody), "AKIANOBODY", testSecret, testRegion, now)
	if status, doc := do(t, r); status != 403 || doc.Code != CodeInvalidClientTokenID {
		t.Fatalf("unknown key: %d %+v", status, doc)
	}

	// Stale.
	r = clientRequest(t, http.MethodPost, srv.URL, queryBody)
	sdkSign(t, r, []byte(queryBody), testKeyID, testSecret, testRegion, now.Add(-20*time.Minute))
	if status, doc := do(t, r); status != 403 || doc.Code != CodeSignatureDoesNotMatch || !strings.HasPrefix(doc.Message, "Signature expired:") {
		t.Fatalf("stale: %d %+v", status, doc)
	}

	// Oversize body, with and without a Content-Length.
	big := queryBody + "&Pad=" + strings.Repeat("x", 2048)
	r = clientRequest(t, http.MethodPost, srv.URL, big)
	sdkSign(t, r, []byte(big), testKeyID, testSecret, testRegion, now)
	if status, doc := do(t, r); status != 413 || doc.Code != CodeRequestEntityTooLarge {
		t.Fatalf("oversize: %d %+v", status, doc)
	}
	r = clientRequest(t, http.MethodPost, srv.URL, "")
	sdkSign(t, r, []byte(big), testKeyID, testSecret, testRegion, now)
	r.Body = io.NopCloser(strings.NewReader(big))
	r.ContentLength = -1 // chunked
	if status, doc := do(t, r); status != 413 || doc.Code != CodeRequestEntityTooLarge {
		t.Fatalf("oversize chunked: %d %+v", status, doc)
	}
	// Unsigned, it is refused for what it lacks before its body is read.
	r = clientRequest(t, http.MethodPost, srv.URL, "")
	r.Body = io.NopCloser(strings.NewReader(big))
	r.ContentLength = -1
	if status, doc := do(t, r); status != 403 || doc.Code != CodeMissingAuthenticationToken {
		t.Fatalf("unsigned oversize chunked: %d %+v", status, doc)
	}

	// Presigned GET, valid and expired.
	get := func(at time.Time) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/?Action=DescribeUsers&Version=2015-02-02&X-Amz-Expires=60", nil)
		signed := presignURL(t, req, at)
		out, _ := http.NewRequest(http.MethodGet, signed, nil)
		return out
	}
	if status, doc := do(t, get(now)); status != 200 {
		t.Fatalf("presigned: %d %+v", status, doc)
	}
	if status, doc := do(t, get(now.Add(-2*time.Minute))); status != 403 || doc.Code != CodeSignatureDoesNotMatch || !strings.HasPrefix(doc.Message, "Signature expired:") {
		t.Fatalf("presigned expired: %d %+v", status, doc)
	}
}

func TestMiddlewareErrorNamespace(t *testing.T) {
	const ns = "http://elasticache.amazonaws.com/doc/2015-02-02/"
	m := &Middleware{Verifier: testVerifier(t0), API: awsquery.API{Namespace: ns}}
	w := httptest.NewRecorder()
	m.Wrap(http.NotFoundHandler()).ServeHTTP(w, newQueryRequest(queryBody))
	if w.Code != 403 || !strings.Contains(w.Body.String(), `xmlns="`+ns+`"`) || !strings.Contains(w.Body.String(), CodeMissingAuthenticationToken) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if id := w.Header().Get("X-Amzn-Requestid"); id == "" || !strings.Contains(w.Body.String(), id) {
		t.Fatalf("request id %q not in %s", id, w.Body)
	}
}

func TestMiddlewareDefaults(t *testing.T) {
	m := &Middleware{}
	if m.maxBody() != DefaultMaxBodyBytes {
		t.Fatal(m.maxBody())
	}
	// No Next handler: 404, not a panic.
	w := httptest.NewRecorder()
	m.ServeHTTP(w, newQueryRequest(queryBody))
	if w.Code != http.StatusNotFound {
		t.Fatal(w.Code)
	}
	// Wrap does not modify m.
	h := m.Wrap(http.NotFoundHandler())
	if m.Next != nil || h == nil {
		t.Fatal("Wrap modified the middleware")
	}
}
