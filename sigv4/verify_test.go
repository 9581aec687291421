package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testKeyID   = "AKIAKEYWARDTEST0001"
	testSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testAccount = "123456789012"
	testRegion  = "eu-west-1"
	queryBody   = "Action=DescribeUsers&Version=2015-02-02"
)

// t0 is the test's "now" and signing time.
var t0 = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

func testVerifier(now time.Time) *Verifier {
	v := NewVerifier([]Credential{
		{AccessKeyID: testKeyID, SecretAccessKey: testSecret, AccountID: testAccount},
		{AccessKeyID: "AKIAOTHER", SecretAccessKey: "other/secret", AccountID: "210987654321"},
	})
	v.Now = func() time.Time { return now }
	return v
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newQueryRequest builds a server-side Query API POST.
func newQueryRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://keyward.test:8443/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return r
}

// sdkSign signs r in place with the AWS SDK's signer.
func sdkSign(t testing.TB, r *http.Request, body []byte, keyID, secret, region string, at time.Time) {
	t.Helper()
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, sha(body), "elasticache", region, at); err != nil {
		t.Fatal(err)
	}
}

func signedQueryRequest(t testing.TB, body string) *http.Request {
	r := newQueryRequest(body)
	sdkSign(t, r, []byte(body), testKeyID, testSecret, testRegion, t0)
	return r
}

// wantErr checks that err is an *Error with the given code and status.
func wantErr(t *testing.T, err error, code string, status int) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *sigv4.Error %s", err, err, code)
	}
	if e.Code != code || e.Status != status {
		t.Fatalf("error = %d %s %q, want %d %s", e.Status, e.Code, e.Message, status, code)
	}
	if e.ErrorFault() != "Sender" || e.ErrorCode() != code || e.HTTPStatus() != status || e.ErrorMessage() != e.Message {
		t.Fatalf("accessors disagree with fields: %+v", e)
	}
	if strings.Contains(e.Error(), testSecret) || strings.Contains(e.Message, "other/secret") {
		t.Fatalf("secret in error message: %s", e.Message)
	}
	return e
}

func TestVerifyValid(t *testing.T) {
	r := signedQueryRequest(t, queryBody)
	got, err := testVerifier(t0).Verify(r, []byte(queryBody))
	if err != nil {
		t.Fatal(err)
	}
	want := Caller{AccountID: testAccount, Region: testRegion, AccessKeyID: testKeyID}
	if got != want {
		t.Fatalf("caller = %+v, want %+v", got, want)
	}
}

func TestVerifyWithinSkew(t *testing.T) {
	for _, d := range []time.Duration{-15 * time.Minute, -14 * time.Minute, 14 * time.Minute, 15 * time.Minute} {
		r := signedQueryRequest(t, queryBody)
		if _, err := testVerifier(t0.Add(d)).Verify(r, []byte(queryBody)); err != nil {
			t.Errorf("now %+v: %v", d, err)
		}
	}
}

func TestVerifyWrongSecret(t *testing.T) {
	r := newQueryRequest(queryBody)
	sdkSign(t, r, []byte(queryBody), testKeyID, "not-the-secret", testRegion, t0)
	_, err := testVerifier(t0).Verify(r, []byte(queryBody))
	e := wantErr(t, err, CodeSignatureDoesNotMatch, 403)
	if e.Message != msgSignatureDoesNotMatch {
		t.Fatalf("message = %q", e.Message)
	}
}

func TestVerifyTamperedBody(t *testing.T) {
	r := signedQueryRequest(t, queryBody)
	tampered := []byte("Action=DeleteUser&UserId=alice&Version=2015-02-02")
	_, err := testVerifier(t0).Verify(r, tampered)
	wantErr(t, err, CodeSignatureDoesNotMatch, 403)
}

func TestVerifyTamperedHeaderQueryMethod(t *testing.T) {
	v := testVerifier(t0)
	for name, mutate := range map[string]func(*http.Request){
		"content-type": func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
		"host":         func(r *http.Request) { r.Host = "evil.test:8443" },
		"query":        func(r *http.Request) { r.URL.RawQuery = "Action=DeleteUser" },
		"method":       func(r *http.Request) { r.Method = http.MethodPut },
		"path":         func(r *http.Request) { r.URL.Path = "/other" },
		"region": func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testRegion, "us-east-1", 1))
		},
		"date": func(r *http.Request) {
			r.Header.Set("X-Amz-Date", t0.Add(time.Minute).Format(amzDateLayout))
		},
	} {
		r := signedQueryRequest(t, queryBody)
		mutate(r)
		_, err := v.Verify(r, []byte(queryBody))
		if err == nil {
			t.Errorf("%s: tampered request accepted", name)
			continue
		}
		wantErr(t, err, CodeSignatureDoesNotMatch, 403)
	}
}

func TestVerifyStaleAndFutureDate(t *testing.T) {
	r := signedQueryRequest(t, queryBody)
	_, err := testVerifier(t0.Add(20*time.Minute)).Verify(r, []byte(queryBody))
	e := wantErr(t, err, CodeSignatureDoesNotMatch, 403)
	if want := "Signature expired: 20261126T000000Z is now earlier than 20261126T000500Z (20261126T002000Z - 15 min.)"; e.Message != want {
		t.Fatalf("message = %q, want %q", e.Message, want)
	}

	_, err = testVerifier(t0.Add(-20*time.Minute)).Verify(r, []byte(queryBody))
	e = wantErr(t, err, CodeSignatureDoesNotMatch, 403)
	if want := "Signature not yet current: 20261126T000000Z is still later than 20261125T235500Z (20261125T234000Z + 15 min.)"; e.Message != want {
		t.Fatalf("message = %q, want %q", e.Message, want)
	}

	v := testVerifier(t0.Add(90 * time.Second))
	v.MaxSkew = 75 * time.Second
	_, err = v.Verify(r, []byte(queryBody))
	e = wantErr(t, err, CodeSignatureDoesNotMatch, 403)
	if !strings.HasSuffix(e.Message, "- 75 sec.)") {
		t.Fatalf("message = %q", e.Message)
	}
}

func TestVerifyMissingSignedHeader(t *testing.T) {
	r := newQueryRequest(queryBody)
	r.Header.Set("X-Amz-Foo", "bar")
	sdkSign(t, r, []byte(queryBody), testKeyID, testSecret, testRegion, t0)
	if !strings.Contains(r.Header.Get("Authorization"), "x-amz-foo") {
		t.Fatalf("x-amz-foo not signed: %s", r.Header.Get("Authorization"))
	}
	v := testVerifier(t0)
	if _, err := v.Verify(r, []byte(queryBody)); err != nil {
		t.Fatalf("control: %v", err)
	}
	r.Header.Del("X-Amz-Foo")
	_, err := v.Verify(r, []byte(queryBody))
	wantErr(t, err, CodeSignatureDoesNotMatch, 403)

	// An empty value is not the same as an absent header.
	r.Header.Set("X-Amz-Foo", "")
	_, err = v.Verify(r, []byte(queryBody))
	wantErr(t, err, CodeSignatureDoesNotMatch, 403)
}

// selfSign signs r with this package's own primitives and an arbitrary
// SignedHeaders list, for cases the SDK's signer will not produce.
func selfSign(r *http.Request, body []byte, signed []string, date string) {
	scope := credentialScope{testKeyID, date[:8], testRegion, "elasticache", scopeTerminator}
	canon := canonicalRequest(r, canonicalQuery(r.URL.RawQuery, ""), signed, sha(body))
	sig := hmacSHA256(signingKey(testSecret, scope.Date, scope.Region, scope.Service), stringToSign(date, scope.scope(), canon))
	r.Header.Set("Authorization", Algorithm+" Credential="+testKeyID+"/"+scope.scope()+
		", SignedHeaders="+strings.Join(signed, ";")+", Signature="+hex.EncodeToString(sig))
}

func TestVerifyHostMustBeSigned(t *testing.T) {
	v := testVerifier(t0)
	date := t0.Format(amzDateLayout)

	r := newQueryRequest(queryBody)
	r.Header.Set("X-Amz-Date", date)
	selfSign(r, []byte(queryBody), []string{"host", "x-amz-date"}, date)
	if _, err := v.Verify(r, []byte(queryBody)); err != nil {
		t.Fatalf("control (host signed): %v", err)
	}

	r = newQueryRequest(queryBody)
	r.Header.Set("X-Amz-Date", date)
	selfSign(r, []byte(queryBody), []string{"x-amz-date"}, date)
	_, err := v.Verify(r, []byte(queryBody))
	e := wantErr(t, err, CodeIncompleteSignature, 400)
	if !strings.Contains(e.Message, "'Host' must be a 'SignedHeader'") {
		t.Fatalf("message = %q", e.Message)
	}
}

func TestVerifyDateHeader(t *testing.T) {
	r := newQueryRequest(queryBody)
	r.Header.Set("Date", t0.Format(http.TimeFormat))
	selfSign(r, []byte(queryBody), []string{"date", "host"}, t0.Format(amzDateLayout))
	if _, err := testVerifier(t0).Verify(r, []byte(queryBody)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyUnknownKey(t *testing.T) {
	r := newQueryRequest(queryBody)
	sdkSign(t, r, []byte(queryBody), "AKIANOBODY", testSecret, testRegion, t0)
	_, err := testVerifier(t0).Verify(r, []byte(queryBody))
	e := wantErr(t, err, CodeInvalidClientTokenID, 403)
	if e.Message != "The security token included in the request is invalid." {
		t.Fatalf("message = %q", e.Message)
	}
}

func TestVerifyMissingAuth(t *testing.T) {
	_, err := testVerifier(t0).Verify(newQueryRequest(queryBody), []byte(queryBody))
	e := wantErr(t, err, CodeMissingAuthenticationToken, 403)
	if e.Message != "Request is missing Authentication Token" {
		t.Fatalf("message = %q", e.Message)
	}
	r := newQueryRequest(queryBody)
	r.Header.Set("Authorization", " ")
	_, err = testVerifier(t0).Verify(r, []byte(queryBody))
	wantErr(t, err, CodeMissingAuthenticationToken, 403)
}

func TestVerifyMalformed(t *testing.T) {
	date := t0.Format(amzDateLayout)
	scope := testKeyID + "/20261126/eu-west-1/elasticache/aws4_request"
	sig := strings.Repeat("ab", 32)
	cases := []struct {
		name, authz, xAmzDate, code, msg string
	}{
		{"no credential", Algorithm + " SignedHeaders=host;x-amz-date, Signature=" + sig, date, CodeIncompleteSignature, "Authorization header requires 'Credential' parameter."},
		{"no signature", Algorithm + " Credential=" + scope + ", SignedHeaders=host;x-amz-date", date, CodeIncompleteSignature, "requires 'Signature' parameter"},
		{"no signed headers", Algorithm + " Credential=" + scope + ", Signature=" + sig, date, CodeIncompleteSignature, "requires 'SignedHeaders' parameter"},
		{"nothing", Algorithm, date, CodeIncompleteSignature, "requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{"other algorithm", "AWS4-ECDSA-P256-SHA256 Credential=" + scope + ", SignedHeaders=host, Signature=" + sig, date, CodeIncompleteSignature, "Unsupported Authorization type"},
		{"bearer", "Bearer abc", date, CodeIncompleteSignature, "Unsupported Authorization type 'Bearer'"},
		{"no equals", Algorithm + " Credential", date, CodeIncompleteSignature, "key=value"},
		{"duplicate", Algorithm + " Credential=" + scope + ", Credential=" + scope + ", SignedHeaders=host, Signature=" + sig, date, CodeIncompleteSignature, "duplicate"},
		{"short scope", Algorithm + " Credential=" + testKeyID + "/20261126/eu-west-1/elasticache, SignedHeaders=host;x-amz-date, Signature=" + sig, date, CodeIncompleteSignature, "exactly 5 slash-delimited elements"},
		{"bad scope date", Algorithm + " Credential=" + testKeyID + "/2026-11-26/eu-west-1/elasticache/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig, date, CodeIncompleteSignature, "valid date"},
		{"bad region", Algorithm + " Credential=" + testKeyID + "/20261126/EU_WEST/elasticache/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig, date, CodeIncompleteSignature, "valid region, not 'EU_WEST'"},
		{"bad terminator", Algorithm + " Credential=" + testKeyID + "/20261126/eu-west-1/elasticache/aws5_request, SignedHeaders=host;x-amz-date, Signature=" + sig, date, CodeIncompleteSignature, "valid terminator: 'aws4_request', not 'aws5_request'"},
		{"empty signed header", Algorithm + " Credential=" + scope + ", SignedHeaders=host;;x-amz-date, Signature=" + sig, date, CodeIncompleteSignature, "semicolon-separated"},
		{"no date", Algorithm + " Credential=" + scope + ", SignedHeaders=host, Signature=" + sig, "", CodeIncompleteSignature, "requires existence of either a 'X-Amz-Date' or a 'Date' header"},
		{"bad date", Algorithm + " Credential=" + scope + ", SignedHeaders=host;x-amz-date, Signature=" + sig, "2026-11-26T00:00:00Z", CodeIncompleteSignature, "ISO8601 basic format"},
		{"fractional date", Algorithm + " Credential=" + scope + ", SignedHeaders=host;x-amz-date, Signature=" + sig, "20261126T000000.5Z", CodeIncompleteSignature, "ISO8601 basic format"},
		{"wrong service", Algorithm + " Credential=" + testKeyID + "/20261126/eu-west-1/rds/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig, date, CodeSignatureDoesNotMatch, "Credential should be scoped to correct service: 'elasticache'."},
		{"scope day mismatch", Algorithm + " Credential=" + testKeyID + "/20261125/eu-west-1/elasticache/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig, date, CodeSignatureDoesNotMatch, "'20261125' != '20261126', from '20261126T000000Z'"},
		{"signature not hex", Algorithm + " Credential=" + scope + ", SignedHeaders=host;x-amz-date, Signature=zz", date, CodeSignatureDoesNotMatch, "does not match"},
	}
	v := testVerifier(t0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newQueryRequest(queryBody)
			r.Header.Set("Authorization", c.authz)
			if c.xAmzDate != "" {
				r.Header.Set("X-Amz-Date", c.xAmzDate)
			}
			_, err := v.Verify(r, []byte(queryBody))
			status := 400
			if c.code == CodeSignatureDoesNotMatch {
				status = 403
			}
			e := wantErr(t, err, c.code, status)
			if !strings.Contains(e.Message, c.msg) {
				t.Fatalf("message = %q, want it to contain %q", e.Message, c.msg)
			}
		})
	}

	// Two Authorization headers, or a header and a presigned query.
	r := signedQueryRequest(t, queryBody)
	r.Header.Add("Authorization", r.Header.Get("Authorization"))
	_, err := v.Verify(r, []byte(queryBody))
	wantErr(t, err, CodeIncompleteSignature, 400)

	r = signedQueryRequest(t, queryBody)
	r.URL.RawQuery = "X-Amz-Signature=" + sig
	_, err = v.Verify(r, []byte(queryBody))
	wantErr(t, err, CodeIncompleteSignature, 400)
}

func TestVerifyContentSHA256Header(t *testing.T) {
	v := testVerifier(t0)
	body := []byte(queryBody)

	r := newQueryRequest(queryBody)
	r.Header.Set("X-Amz-Content-Sha256", sha(body))
	sdkSign(t, r, body, testKeyID, testSecret, testRegion, t0)
	if _, err := v.Verify(r, body); err != nil {
		t.Fatalf("matching header: %v", err)
	}
	_, err := v.Verify(r, []byte("Action=DeleteUser"))
	e := wantErr(t, err, CodeSignatureDoesNotMatch, 403)
	if !strings.Contains(e.Message, "x-amz-content-sha256") {
		t.Fatalf("message = %q", e.Message)
	}

	// UNSIGNED-PAYLOAD is refused outside presigned requests.
	r = newQueryRequest(queryBody)
	r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, unsignedPayload, "elasticache", testRegion, t0); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(r, body)
	wantErr(t, err, CodeSignatureDoesNotMatch, 403)
}

func TestVerifyQueryAndPathEncoding(t *testing.T) {
	v := testVerifier(t0)
	for _, target := range []string{
		"/?Action=DescribeUsers&Version=2015-02-02&UserId=a%20b%2Fc%2Bd&Engine=redis",
		"/?b=2&a=1&a=0&c&%E2%82%AC=%7E-_.",
		"/?a/b=1&a-b=2",
		"/some%20path/with%2Fslash/caf%C3%A9",
		"/a+b/c",
		"/",
	} {
		r := httptest.NewRequest(http.MethodGet, "http://keyward.test"+target, nil)
		sdkSign(t, r, nil, testKeyID, testSecret, testRegion, t0)
		if _, err := v.Verify(r, nil); err != nil {
			t.Errorf("%s: %v", target, err)
		}
	}
}

// TestVerifyAWSTestSuite checks against the "get-vanilla" and
// "get-vanilla-query-order-key-case" cases of AWS's SigV4 test suite, an
// oracle independent of the SDK's signer.
func TestVerifyAWSTestSuite(t *testing.T) {
	v := NewVerifier([]Credential{{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", AccountID: testAccount}})
	v.Service = "service"
	v.Now = func() time.Time { return time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC) }
	for _, c := range []struct{ target, sig string }{
		{"/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://example.amazonaws.com"+c.target, nil)
		r.Header.Set("X-Amz-Date", "20150830T123600Z")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="+c.sig)
		got, err := v.Verify(r, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.target, err)
		}
		if got.Region != "us-east-1" || got.AccessKeyID != "AKIDEXAMPLE" {
			t.Fatalf("caller = %+v", got)
		}
	}
}

func presign(t testing.TB, target string, expires int, keyID, secret string, at time.Time) *http.Request {
	t.Helper()
	u := "http://keyward.test:8443" + target
	if expires > 0 {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "X-Amz-Expires=" + strconv.Itoa(expires)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, sha(nil), "elasticache", testRegion, at)
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewRequest(http.MethodGet, signed, nil)
}

func TestVerifyPresigned(t *testing.T) {
	const target = "/?Action=DescribeUsers&Version=2015-02-02"
	r := presign(t, target, 60, testKeyID, testSecret, t0)
	if !strings.Contains(r.URL.RawQuery, "X-Amz-Signature=") {
		t.Fatalf("not presigned: %s", r.URL)
	}
	want := Caller{AccountID: testAccount, Region: testRegion, AccessKeyID: testKeyID}
	got, err := testVerifier(t0.Add(30*time.Second)).Verify(r, nil)
	if err != nil || got != want {
		t.Fatalf("valid presigned: %+v, %v", got, err)
	}

	_, err = testVerifier(t0.Add(2*time.Minute)).Verify(r, nil)
	e := wantErr(t, err, CodeSignatureDoesNotMatch, 403)
	if want := "Signature expired: 20261126T000000Z is now earlier than 20261126T000100Z (20261126T000200Z - 1 min.)"; e.Message != want {
		t.Fatalf("message = %q, want %q", e.Message, want)
	}

	// Without X-Amz-Expires, and with a week, the lifetime is MaxSkew.
	for _, exp := range []int{0, 604800} {
		r := presign(t, target, exp, testKeyID, testSecret, t0)
		if _, err := testVerifier(t0.Add(14*time.Minute)).Verify(r, nil); err != nil {
			t.Fatalf("expires %d, 14 min later: %v", exp, err)
		}
		_, err := testVerifier(t0.Add(16*time.Minute)).Verify(r, nil)
		wantErr(t, err, CodeSignatureDoesNotMatch, 403)
	}

	// Tampering with a signed parameter.
	r = presign(t, target, 60, testKeyID, testSecret, t0)
	r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "DescribeUsers", "DeleteUser", 1)
	_, err = testVerifier(t0).Verify(r, nil)
	wantErr(t, err, CodeSignatureDoesNotMatch, 403)

	// A body the presigned URL did not sign.
	r = presign(t, target, 60, testKeyID, testSecret, t0)
	_, err = testVerifier(t0).Verify(r, []byte("Action=DeleteUser"))
	wantErr(t, err, CodeSignatureDoesNotMatch, 403)

	// Wrong secret, unknown key.
	r = presign(t, target, 60, testKeyID, "wrong", t0)
	_, err = testVerifier(t0).Verify(r, nil)
	wantErr(t, err, CodeSignatureDoesNotMatch, 403)
	r = presign(t, target, 60, "AKIANOBODY", testSecret, t0)
	_, err = testVerifier(t0).Verify(r, nil)
	wantErr(t, err, CodeInvalidClientTokenID, 403)
}

func TestVerifyPresignedUnsignedPayload(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://keyward.test/?Action=DescribeUsers&X-Amz-Expires=60", nil)
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, unsignedPayload, "elasticache", testRegion, t0)
	if err != nil {
		t.Fatal(err)
	}
	v := testVerifier(t0)
	if _, err := v.Verify(httptest.NewRequest(http.MethodGet, signed, nil), nil); err != nil {
		t.Fatalf("UNSIGNED-PAYLOAD presigned GET: %v", err)
	}
	_, err = v.Verify(httptest.NewRequest(http.MethodGet, signed, nil), []byte("Action=DeleteUser"))
	wantErr(t, err, CodeSignatureDoesNotMatch, 403)
}

func TestVerifyPresignedMalformed(t *testing.T) {
	good := presign(t, "/?Action=DescribeUsers", 60, testKeyID, testSecret, t0).URL.RawQuery
	v := testVerifier(t0)
	for name, q := range map[string]string{
		"no date":        dropParam(good, "X-Amz-Date"),
		"no credential":  dropParam(good, "X-Amz-Credential"),
		"no headers":     dropParam(good, "X-Amz-SignedHeaders"),
		"no algorithm":   dropParam(good, "X-Amz-Algorithm"),
		"bad algorithm":  strings.Replace(good, "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", 1),
		"bad expires":    strings.Replace(good, "X-Amz-Expires=60", "X-Amz-Expires=-5", 1),
		"huge expires":   strings.Replace(good, "X-Amz-Expires=60", "X-Amz-Expires=604801", 1),
		"duplicate":      good + "&X-Amz-Date=20261126T000000Z",
		"host unsigned":  strings.Replace(good, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date", 1),
		"bad credential": strings.Replace(good, "aws4_request", "", 1),
	} {
		r := httptest.NewRequest(http.MethodGet, "http://keyward.test:8443/?"+q, nil)
		_, err := v.Verify(r, nil)
		t.Run(name, func(t *testing.T) { wantErr(t, err, CodeIncompleteSignature, 400) })
	}
}

func dropParam(q, name string) string {
	var out []string
	for _, kv := range strings.Split(q, "&") {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return strings.Join(out, "&")
}

func TestVerifyConcurrent(t *testing.T) {
	v := testVerifier(t0)
	done := make(chan error)
	for range 8 {
		go func() {
			r := signedQueryRequest(t, queryBody)
			_, err := v.Verify(r, []byte(queryBody))
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestCallerFromUnsigned(t *testing.T) {
	r := signedQueryRequest(t, queryBody)
	got := CallerFromUnsigned(r, "us-east-1", "")
	if want := (Caller{AccountID: DefaultAccountID, Region: testRegion, AccessKeyID: testKeyID}); got != want {
		t.Fatalf("signed: %+v, want %+v", got, want)
	}
	got = CallerFromUnsigned(newQueryRequest(queryBody), "ap-south-1", "111122223333")
	if want := (Caller{AccountID: "111122223333", Region: "ap-south-1"}); got != want {
		t.Fatalf("unsigned: %+v, want %+v", got, want)
	}
	r = newQueryRequest(queryBody)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/y/../../z")
	if got := CallerFromUnsigned(r, "us-east-1", ""); got.Region != "us-east-1" {
		t.Fatalf("garbage scope: %+v", got)
	}
	r = presign(t, "/?Action=DescribeUsers", 60, "AKIADUMMY", "x", t0)
	if got := CallerFromUnsigned(r, "us-east-1", ""); got.Region != testRegion || got.AccessKeyID != "AKIADUMMY" {
		t.Fatalf("presigned: %+v", got)
	}
}

func TestCanonicalValue(t *testing.T) {
	for in, want := range map[string]string{
		"  a  b   c ": "a b c",
		"a b":         "a b",
		"":            "",
		"\t x\t":      "x",
	} {
		if got := canonicalValue(in); got != want {
			t.Errorf("canonicalValue(%q) = %q, want %q", in, got, want)
		}
	}
	// Repeated and space-padded headers are signed the same way by the SDK.
	r := newQueryRequest(queryBody)
	r.Header.Add("X-Amz-Meta", " one   two ")
	r.Header.Add("X-Amz-Meta", "three")
	sdkSign(t, r, []byte(queryBody), testKeyID, testSecret, testRegion, t0)
	if _, err := testVerifier(t0).Verify(r, []byte(queryBody)); err != nil {
		t.Fatal(err)
	}
}

func presignURL(t testing.TB, req *http.Request, at time.Time) string {
	t.Helper()
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, sha(nil), "elasticache", testRegion, at)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// TestVerifySigningKeyCache: one Verifier, reused, tells the keys, regions
// and dates apart (a cached key serves only its own scope), keeps
// refusing a wrong secret after the right one was seen, and still verifies
// after its cache was emptied for being full.
func TestVerifySigningKeyCache(t *testing.T) {
	v := testVerifier(t0)
	check := func(keyID, secret, region string, at time.Time, ok bool) {
		t.Helper()
		r := newQueryRequest(queryBody)
		sdkSign(t, r, []byte(queryBody), keyID, secret, region, at)
		_, err := v.Verify(r, []byte(queryBody))
		if ok && err != nil {
			t.Fatalf("%s %s %s: %v", keyID, region, at, err)
		} else if !ok {
			wantErr(t, err, CodeSignatureDoesNotMatch, 403)
		}
	}
	for range 2 {
		check(testKeyID, testSecret, testRegion, t0, true)
		check(testKeyID, "not-the-secret", testRegion, t0, false)
		check("AKIAOTHER", "other/secret", testRegion, t0, true)
		check("AKIAOTHER", testSecret, testRegion, t0, false)
		check(testKeyID, testSecret, "us-east-1", t0, true)
		check(testKeyID, testSecret, testRegion, t0.Add(-10*time.Minute), true) // the day before
	}
	v.nkeys.Store(maxSigningKeys)
	check(testKeyID, testSecret, "ap-south-1", t0, true) // a new scope: the cache is full
	if n := v.nkeys.Load(); n != 1 {
		t.Errorf("cached keys after overflow: %d, want 1", n)
	}
	check(testKeyID, testSecret, "us-east-1", t0, true)
	check(testKeyID, "not-the-secret", "ap-south-1", t0, false)
}
