package awsquery

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDecoderHas(t *testing.T) {
	d := NewDecoder(url.Values{
		"A": {"1"}, "A.B": {"2"}, "AB.C": {"3"}, "A-b": {"4"}, "Tags.Tag.1.Key": {"k"}, "Empty": {},
	})
	for name, want := range map[string]bool{
		"A": true, "A.B": true, "A.B.C": false, "AB": true, "AB.C": true, "A-b": true, "A-": false,
		"Tags": true, "Tags.Tag": true, "Tags.Tag.1": true, "Tags.Tag.1.Key": true, "Tags.Tag.2": false,
		"Tag": false, "Tags.Ta": false, "B": false, "": false, "Empty": true,
	} {
		if got := d.Has(name); got != want {
			t.Errorf("Has(%q) = %v, want %v", name, got, want)
		}
	}
	if v, ok := d.Value("A"); !ok || v != "1" {
		t.Errorf("Value(A) = %q %v", v, ok)
	}
	if _, ok := d.Value("Empty"); ok {
		t.Error("Value(Empty) present with no values")
	}
}

// TestDecoderHasMatchesNaive compares Has with a linear scan on random keys.
func TestDecoderHasMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alpha := []byte("ab.-/0")
	word := func() string {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alpha[rng.IntN(len(alpha))]
		}
		return string(b)
	}
	for round := 0; round < 200; round++ {
		v := url.Values{}
		for i := 0; i < rng.IntN(12); i++ {
			v.Set(word(), "x")
		}
		d := NewDecoder(v)
		for i := 0; i < 50; i++ {
			name := word()
			want := false
			for k := range v {
				if k == name || strings.HasPrefix(k, name+".") {
					want = true
				}
			}
			if got := d.Has(name); got != want {
				t.Fatalf("keys %v: Has(%q) = %v, want %v", v, name, got, want)
			}
		}
	}
}

func TestParsers(t *testing.T) {
	if v, err := ParseInt32("N", "-2147483648"); err != nil || v != -2147483648 {
		t.Errorf("ParseInt32 min: %v %v", v, err)
	}
	for _, bad := range []string{"2147483648", "1.5", " 1", "", "0x10", "abc"} {
		if _, err := ParseInt32("N", bad); err == nil {
			t.Errorf("ParseInt32(%q) accepted", bad)
		} else if ae := err.(*Error); ae.Code != "InvalidParameterValue" || !strings.Contains(ae.Message, "parameter N") {
			t.Errorf("ParseInt32(%q): %v", bad, err)
		}
	}
	for s, want := range map[string]bool{"true": true, "TRUE": true, "False": false, "false": false} {
		if v, err := ParseBool("B", s); err != nil || v != want {
			t.Errorf("ParseBool(%q) = %v %v", s, v, err)
		}
	}
	for _, bad := range []string{"1", "yes", "", "t"} {
		if _, err := ParseBool("B", bad); err == nil {
			t.Errorf("ParseBool(%q) accepted", bad)
		}
	}
	for s, want := range map[string]time.Time{
		"2024-01-02T03:04:05Z":          time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"2024-01-02T03:04:05.123Z":      time.Date(2024, 1, 2, 3, 4, 5, 123e6, time.UTC),
		"2024-01-02T05:04:05.5+02:00":   time.Date(2024, 1, 2, 3, 4, 5, 500e6, time.UTC),
		"2024-01-02T03:04:05":           time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"1704164645":                    time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"1704164645.25":                 time.Date(2024, 1, 2, 3, 4, 5, 250e6, time.UTC),
		"2024-01-02T03:04:05.123456Z":   time.Date(2024, 1, 2, 3, 4, 5, 123456e3, time.UTC),
		"2024-01-02T03:04:05.000-00:00": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	} {
		got, err := ParseTime("T", s)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v %v, want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2024-13-01T00:00:00Z", "1e300", "NaN"} {
		if _, err := ParseTime("T", bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
	if _, err := ParseFloat64("F", "NaN"); err == nil {
		t.Error("ParseFloat64(NaN) accepted")
	}
	if b, err := ParseBlob("B", "aGk="); err != nil || string(b) != "hi" {
		t.Errorf("ParseBlob: %q %v", b, err)
	}
}

func TestXMLWriterText(t *testing.T) {
	for _, s := range []string{
		"plain", "<a & b>", `"q" 'a'`, "line\nbreak\r\n\ttab", "ünïcødé 🎉", "\x00\x01\x1f", "bad \xff\xfe utf8",
		"\uFFFE\uFFFF", "]]>", "&amp;", strings.Repeat("é", 100),
	} {
		var w XMLWriter
		w.String("V", s)
		var got string
		if err := xml.Unmarshal(w.Bytes(), &got); err != nil {
			t.Errorf("%q -> %s: %v", s, w.Bytes(), err)
			continue
		}
		want := strings.Map(func(r rune) rune {
			if !isXMLChar(r) {
				return '\uFFFD'
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
		// ToValidUTF8 merges a run of bad bytes into one replacement;
		// the writer replaces each byte.
		if utf8.ValidString(s) && got != want {
			t.Errorf("%q round-tripped as %q, want %q", s, got, want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("%q round-tripped as invalid UTF-8", s)
		}
	}
}

func TestXMLWriterScalars(t *testing.T) {
	var w XMLWriter
	w.StartNS("R", `urn:"x"`)
	w.Int32("I", -5)
	w.Int64("L", 1<<40)
	w.Bool("B", true)
	w.Float64("F", 0.1)
	w.Float64("N", 1e21)
	w.Time("T", time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.FixedZone("x", 3600)))
	w.Blob("Y", []byte("hi"))
	w.Start("E")
	w.End("E")
	w.End("R")
	want := `<R xmlns="urn:&#34;x&#34;"><I>-5</I><L>1099511627776</L><B>true</B><F>0.1</F><N>1000000000000000000000</N>` +
		`<T>2024-01-02T02:04:05.006Z</T><Y>aGk=</Y><E></E></R>`
	if string(w.Bytes()) != want {
		t.Errorf("got  %s\nwant %s", w.Bytes(), want)
	}
}

func TestRequestIDs(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewRequestID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	ctx := WithRequestID(context.Background(), "abc")
	if RequestID(ctx) != "abc" || RequestID(context.Background()) != "" {
		t.Error("RequestID")
	}
	if _, ok := CallerFrom(ctx); ok {
		t.Error("CallerFrom found a caller")
	}
	c := Caller{AccountID: "123456789012", Region: "eu-west-1", AccessKeyID: "AKID"}
	if got, ok := CallerFrom(WithCaller(ctx, c)); !ok || got != c {
		t.Errorf("CallerFrom = %v %v", got, ok)
	}
}

func TestErrorDefaults(t *testing.T) {
	e := &Error{Code: "X", Message: "m"}
	if e.HTTPStatus() != 400 || e.ErrorFault() != "Sender" || e.Error() != "X: m" {
		t.Errorf("%d %s %s", e.HTTPStatus(), e.ErrorFault(), e.Error())
	}
	if e := (&Error{Code: "X", Status: 503}); e.ErrorFault() != "Receiver" {
		t.Error("5xx fault")
	}
	for _, c := range []struct {
		err    *Error
		code   string
		status int
	}{
		{MissingParameter("A.B"), "MissingParameter", 400},
		{InvalidParameterValue("m"), "InvalidParameterValue", 400},
		{InvalidParameterCombination("m"), "InvalidParameterCombination", 400},
		{MissingAction(), "MissingAction", 400},
		{InvalidAction("X"), "InvalidAction", 400},
		{NoSuchVersion("1", "S"), "NoSuchVersion", 400},
		{InternalFailure(), "InternalFailure", 500},
		{NotImplemented("Op"), "NotImplemented", 501},
		{RequestEntityTooLarge(10), "RequestEntityTooLarge", 413},
		{MalformedQueryString("x"), "MalformedQueryString", 404},
		{MethodNotAllowed("PUT"), "MethodNotAllowed", 405},
		{UnsupportedMediaType("a/b"), "UnsupportedMediaType", 415},
	} {
		if c.err.ErrorCode() != c.code || c.err.HTTPStatus() != c.status || c.err.ErrorMessage() == "" {
			t.Errorf("%v: %d", c.err, c.err.HTTPStatus())
		}
	}
	if m := InvalidAction(strings.Repeat("x", 1000)).Message; len(m) > 150 {
		t.Errorf("long action echoed in full: %d bytes", len(m))
	}
	if m := OutOfRange("N", "9", "1", ""); !strings.Contains(m.Message, "at least 1") {
		t.Error(m.Message)
	}
}

func TestParseForm(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/?Version=1&A=q", strings.NewReader("Action=X&A=b"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	v, err := ParseForm(r, 0)
	if err != nil || v.Get("Action") != "X" || v.Get("Version") != "1" || strings.Join(v["A"], ",") != "b,q" {
		t.Fatalf("%v %v", v, err)
	}
	// Parse again: the body was put back.
	if v2, err := ParseForm(r, 0); err != nil || v2.Get("Action") != "X" {
		t.Fatalf("second ParseForm: %v %v", v2, err)
	}
	if b, _ := io.ReadAll(r.Body); string(b) != "Action=X&A=b" {
		t.Errorf("body after ParseForm: %q", b)
	}
	// GET ignores the body.
	r = httptest.NewRequest(http.MethodGet, "/?Action=Y", strings.NewReader("Action=X"))
	if v, err := ParseForm(r, 0); err != nil || v.Get("Action") != "Y" || len(v["Action"]) != 1 {
		t.Errorf("GET: %v %v", v, err)
	}
	for _, c := range []struct {
		method, ct, body, query string
		limit                   int64
		code                    string
	}{
		{http.MethodPost, "", strings.Repeat("x", 11), "", 10, "RequestEntityTooLarge"},
		{http.MethodPost, "", "a=%zz", "", 0, "MalformedQueryString"},
		{http.MethodPost, "", "a=b", "c=%zz", 0, "MalformedQueryString"},
		{http.MethodPost, "text/plain", "a=b", "", 0, "UnsupportedMediaType"},
		{http.MethodPost, "application/x-www-form-urlencoded; charset", "a=b", "", 0, "UnsupportedMediaType"},
		{http.MethodDelete, "", "", "", 0, "MethodNotAllowed"},
	} {
		r := httptest.NewRequest(c.method, "/", strings.NewReader(c.body))
		r.URL.RawQuery = c.query
		if c.ct != "" {
			r.Header.Set("Content-Type", c.ct)
		}
		_, err := ParseForm(r, c.limit)
		var ae *Error
		if !errors.As(err, &ae) || ae.Code != c.code {
			t.Errorf("%+v: err %v, want %s", c, err, c.code)
		}
	}
	// Exactly at the limit is fine.
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader("a=12345678"))
	if _, err := ParseForm(r, 10); err != nil {
		t.Errorf("body at the limit: %v", err)
	}
}

type weirdError struct{ status int }

func (w *weirdError) Error() string        { return "weird" }
func (w *weirdError) ErrorCode() string    { return "Weird" }
func (w *weirdError) ErrorMessage() string { return w.Error() }
func (w *weirdError) HTTPStatus() int      { return w.status }
func (w *weirdError) ErrorFault() string   { return "Nobody" }

func TestWriteErrorAndResult(t *testing.T) {
	api := API{Name: "AmazonX", Version: "1", Namespace: "urn:x"}
	rec := httptest.NewRecorder()
	api.WriteError(rec, nil, MissingParameter("P"), "rid")
	want := `<ErrorResponse xmlns="urn:x"><Error><Type>Sender</Type><Code>MissingParameter</Code><Message>The request must contain the parameter P.</Message></Error><RequestId>rid</RequestId></ErrorResponse>`
	if rec.Code != 400 || rec.Body.String() != want || rec.Header().Get("x-amzn-RequestId") != "rid" || rec.Header().Get("Content-Type") != "text/xml" {
		t.Errorf("%d %s %v", rec.Code, rec.Body, rec.Header())
	}
	rec = httptest.NewRecorder()
	WriteError(rec, nil, errors.New("secret"), "rid")
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") || !strings.HasPrefix(rec.Body.String(), "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	// A status outside 4xx/5xx and an unknown fault are corrected.
	rec = httptest.NewRecorder()
	WriteError(rec, nil, &weirdError{status: 200}, "rid")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "<Type>Sender</Type><Code>Weird</Code>") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	// A wrapped APIError is found; a nil one whose methods panic is internal.
	rec = httptest.NewRecorder()
	WriteError(rec, nil, errors.Join(errors.New("ctx"), NotImplemented("Op")), "rid")
	if rec.Code != 501 {
		t.Errorf("wrapped: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	WriteError(rec, nil, (*weirdPanics)(nil), "rid")
	if rec.Code != 500 {
		t.Errorf("nil APIError: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	api.WriteResult(rec, "Ping", "rid", func(w *XMLWriter) { w.String("PingResult", "ok") })
	if rec.Code != 200 || rec.Body.String() != `<PingResponse xmlns="urn:x"><PingResult>ok</PingResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></PingResponse>` {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

type weirdPanics struct{ code string }

func (w *weirdPanics) Error() string        { return "x" }
func (w *weirdPanics) ErrorCode() string    { return w.code }
func (w *weirdPanics) ErrorMessage() string { return w.code }
func (w *weirdPanics) HTTPStatus() int      { return 400 }
func (w *weirdPanics) ErrorFault() string   { return "Sender" }

func TestHandlerContext(t *testing.T) {
	var gotID string
	var gotCaller Caller
	h := NewHandler(API{Name: "AmazonX", Version: "1", Namespace: "urn:x"}, map[string]OperationFunc{
		"Ping": func(ctx context.Context, d *Decoder, w *XMLWriter) error {
			gotID = RequestID(ctx)
			gotCaller, _ = CallerFrom(ctx)
			w.String("PingResult", "pong")
			return nil
		},
		"Abort": func(ctx context.Context, d *Decoder, w *XMLWriter) error { panic(http.ErrAbortHandler) },
	}, Options{})
	r := httptest.NewRequest(http.MethodGet, "/?Action=Ping&Version=1", nil)
	r = r.WithContext(WithCaller(r.Context(), Caller{AccountID: "1"}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 200 || gotID == "" || rec.Header().Get("x-amzn-RequestId") != gotID || gotCaller.AccountID != "1" ||
		rec.Body.String() != `<PingResponse xmlns="urn:x"><PingResult>pong</PingResult><ResponseMetadata><RequestId>`+gotID+`</RequestId></ResponseMetadata></PingResponse>` {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	// http.ErrAbortHandler is re-panicked for net/http to handle.
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/?Action=Abort&Version=1", nil))
	t.Error("ErrAbortHandler was swallowed")
}

func TestHandlerKeepsMiddlewareRequestID(t *testing.T) {
	var got string
	h := NewHandler(API{Version: "1"}, map[string]OperationFunc{
		"Ping": func(ctx context.Context, d *Decoder, w *XMLWriter) error { got = RequestID(ctx); return nil },
	}, Options{})
	r := httptest.NewRequest(http.MethodGet, "/?Action=Ping&Version=1", nil)
	r = r.WithContext(WithRequestID(r.Context(), "mw-id"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if got != "mw-id" || rec.Header().Get("x-amzn-RequestId") != "mw-id" || !strings.Contains(rec.Body.String(), "<RequestId>mw-id</RequestId>") {
		t.Errorf("%q %s", got, rec.Body)
	}
}

// TestParseForm_Body: a body already in memory (Body, as the SigV4
// middleware passes it) is parsed from its bytes, under the same limit,
// and stays readable.
func TestParseForm_Body(t *testing.T) {
	form := "Action=DescribeUsers&Version=2015-02-02&UserId=u1"
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Body = NewBody([]byte(form))
	v, err := ParseForm(r, 0)
	if err != nil || v.Get("UserId") != "u1" || v.Get("Action") != "DescribeUsers" {
		t.Fatalf("ParseForm: %v %v", v, err)
	}
	if b, err := io.ReadAll(r.Body); err != nil || string(b) != form {
		t.Errorf("body after ParseForm: %q %v", b, err)
	}
	var e *Error
	if _, err := ParseForm(r, int64(len(form)-1)); !errors.As(err, &e) || e.Code != "RequestEntityTooLarge" || e.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("over the limit: %v", err)
	}
}

// TestParseQuery: parseQuery answers what url.ParseQuery answers, values
// and errors, also for the forms it hands over to it.
func TestParseQuery(t *testing.T) {
	many := strings.Repeat("a=b&", maxQuickParams) + "c=d"
	for _, q := range []string{
		"", "&", "a", "a=", "=b", "a=b", "Action=DescribeUsers&Version=2015-02-02&UserId=u1",
		"a=b&&c=d&", "a=b&a=c", "a=%41%2B+b&c%3D=d", "a=%zz&b=c", "a=b;c=d", "a=b&c=%",
		"AccessString=on+~*+%2B%40all&Passwords.member.1=x", many,
	} {
		got, gerr := parseQuery(q)
		want, werr := url.ParseQuery(q)
		if !reflect.DeepEqual(got, want) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Errorf("parseQuery(%q) = %v, %v; url.ParseQuery: %v, %v", q, got, gerr, want, werr)
		}
		if v := got["a"]; len(v) == 1 {
			got["a"] = append(v, "x") // must not write into another parameter's value
			for k, vs := range got {
				if k != "a" && slices.Contains(vs, "x") {
					t.Errorf("parseQuery(%q): append to a changed %s", q, k)
				}
			}
		}
	}
}

// TestWithRequestBody: the context carries the caller and the id, keeps
// its parent's values and cancellation, and the body reads the bytes.
func TestWithRequestBody(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	c := Caller{AccountID: "123456789012", Region: "eu-west-1", AccessKeyID: "AKID"}
	ctx, body := WithRequestBody(parent, c, "rid", []byte("Action=X"))
	if got, ok := CallerFrom(ctx); !ok || got != c {
		t.Errorf("CallerFrom = %v, %v", got, ok)
	}
	if RequestID(ctx) != "rid" || ctx.Value(key{}) != "v" {
		t.Errorf("RequestID %q, parent's value %v", RequestID(ctx), ctx.Value(key{}))
	}
	if b, err := io.ReadAll(body); err != nil || string(b) != "Action=X" {
		t.Errorf("body %q, %v", b, err)
	}
	inner := WithRequestID(ctx, "other")
	if RequestID(inner) != "other" || RequestID(ctx) != "rid" {
		t.Errorf("WithRequestID over it: %q, %q", RequestID(inner), RequestID(ctx))
	}
	cancel()
	<-ctx.Done()
	if ctx.Err() != context.Canceled {
		t.Errorf("Err after cancel: %v", ctx.Err())
	}
}
