package sigv4

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseAuthorization feeds arbitrary Authorization headers to the
// parser, to the whole Verifier and to CallerFromUnsigned: none may panic,
// every rejection is an *Error of a known code, and nothing unsigned is
// ever accepted.
func FuzzParseAuthorization(f *testing.F) {
	scope := testKeyID + "/20261126/eu-west-1/elasticache/aws4_request"
	for _, s := range []string{
		"",
		Algorithm,
		Algorithm + " ",
		Algorithm + " Credential=" + scope + ", SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64),
		Algorithm + " Credential=" + scope + ",SignedHeaders=host;x-amz-date,Signature=abc",
		Algorithm + " Credential=" + scope + ", SignedHeaders=Host;X-Amz-Date;host, Signature=",
		Algorithm + " Credential=/////, SignedHeaders=;, Signature==",
		Algorithm + " Credential=a/b/c/d/e/f, SignedHeaders=host, Signature=00",
		Algorithm + " Credential=a/20261126/../elasticache/aws4_request, SignedHeaders=host",
		Algorithm + " ,,,, = , Credential",
		Algorithm + "\tCredential=x",
		"AWS " + testKeyID + ":c2lnbmF0dXJl",
		"Bearer token",
		"AWS4-HMAC-SHA256 Credential=\x00\xff/20261126/eu-west-1/elasticache/aws4_request, SignedHeaders=host, Signature=ff",
	} {
		f.Add(s)
	}
	v := testVerifier(t0)
	known := map[string]bool{
		CodeIncompleteSignature:        true,
		CodeSignatureDoesNotMatch:      true,
		CodeInvalidClientTokenID:       true,
		CodeMissingAuthenticationToken: true,
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err == nil && a.Algorithm != Algorithm {
			t.Fatalf("accepted algorithm %q", a.Algorithm)
		}
		if err == nil {
			_ = a.missingParts(h)
			if a.Credential != "" {
				if c, err := parseCredential(a.Credential); err == nil {
					_ = c.scope()
				}
			}
			if a.SignedHeaders != "" {
				_, _ = parseSignedHeaders(a.SignedHeaders)
			}
		}

		r := httptest.NewRequest(http.MethodPost, "http://keyward.test/", strings.NewReader(queryBody))
		r.Header["Authorization"] = []string{h}
		r.Header.Set("X-Amz-Date", t0.Format(amzDateLayout))
		_, err = v.Verify(r, []byte(queryBody))
		if err == nil {
			t.Fatalf("fuzzed header %q accepted", h)
		}
		e, ok := err.(*Error)
		if !ok || !known[e.Code] || (e.Status != 400 && e.Status != 403) {
			t.Fatalf("unexpected error %#v", err)
		}
		if len(e.Message) > 4*maxEchoLen+512 {
			t.Fatalf("message of %d bytes", len(e.Message))
		}
		if strings.Contains(e.Message, testSecret) {
			t.Fatal("secret in message")
		}

		c := CallerFromUnsigned(r, "us-east-1", "")
		if !validRegion(c.Region) || c.AccountID != DefaultAccountID || !utf8.ValidString(c.AccessKeyID) {
			t.Fatalf("unsigned caller %+v", c)
		}
	})
}
