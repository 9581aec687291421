package ecapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/smithy-go/middleware"
)

// filler sets every exported field of a value to a distinct non-zero
// value: pointers allocated, slices given two elements, strings "v<n>"
// (which satisfies every pattern and length of the model), enums of the
// SDK their first values. It makes "every field round-trips" checkable.
type filler struct {
	n     int
	depth int
}

var timeType = reflect.TypeOf(time.Time{})

func (f *filler) fill(v reflect.Value) {
	f.n++
	n := f.n
	if f.depth > 12 {
		return
	}
	f.depth++
	defer func() { f.depth-- }()
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem() == timeType {
			t := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(n) * (time.Hour + time.Millisecond))
			v.Set(reflect.ValueOf(&t))
			return
		}
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem())
		v.Set(p)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(n) * time.Millisecond)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			sf := v.Type().Field(i)
			if !sf.IsExported() || sf.Name == "ResultMetadata" {
				continue
			}
			f.fill(v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(fmt.Sprintf("blob%d", n)))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			f.fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			f.fill(k)
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.String:
		if vals := v.MethodByName("Values"); vals.IsValid() && v.Type().PkgPath() != "" {
			enum := vals.Call(nil)[0]
			if enum.Len() > 0 {
				v.Set(enum.Index(n % enum.Len()))
				return
			}
		}
		v.SetString(fmt.Sprintf("v%d", n%1000))
	case reflect.Bool:
		v.SetBool(n%2 == 0)
	case reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(int64(n))
	case reflect.Float64, reflect.Float32:
		v.SetFloat(float64(n) + 0.5)
	}
}

// tree converts v to its JSON tree (maps, slices, strings, numbers).
func tree(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !isZero(e) {
				return false
			}
		}
		return true
	}
	return false
}

// diffTrees reports the differences between the JSON trees want and got.
// Keys only in got must hold zero values (fields one side does not have
// and nobody set); ignore lists keys skipped anywhere.
func diffTrees(path string, want, got any, ignore map[string]bool) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want object, got %v", path, got)}
		}
		var diffs []string
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if ignore[k] {
				continue
			}
			wv, wok := w[k]
			gv, gok := g[k]
			switch {
			case wok && gok:
				diffs = append(diffs, diffTrees(path+"."+k, wv, gv, ignore)...)
			case wok && !isZero(wv):
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing on the receiving side (want %v)", path, k, wv))
			case gok && !isZero(gv):
				diffs = append(diffs, fmt.Sprintf("%s.%s: unexpected %v", path, k, gv))
			}
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, diffTrees(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], ignore)...)
		}
		return diffs
	default:
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		return nil
	}
}

// newClient returns an SDK client of the server at url. Retries are off so
// that error tests see exactly one request.
func newClient(url string) *elasticache.Client {
	return elasticache.New(elasticache.Options{
		BaseEndpoint: aws.String(url),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:      aws.NopRetryer{},
		// A transport of its own: no other test's server shutdown can
		// close this client's connections.
		HTTPClient: &http.Client{Transport: ownBodyTransport{next: &http.Transport{}}},
	})
}

// ownBodyTransport gives Go's transport a request body the SDK cannot
// close under it. smithy-go closes the request's body as soon as the
// response headers are in; when net/http's write loop, delayed under
// load, has not yet made its final read of that body, the closed body's
// WriteTo returns io.EOF, and the transport takes that as a write error
// and closes the connection while the response body is still being read
// ("deserialization failed ... use of closed network connection"). It
// needs a request body over the 4 KiB write buffer and a response body
// over the read buffer, which is what TestSDKEveryOperation sends.
type ownBodyTransport struct{ next http.RoundTripper }

func (t ownBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return t.next.RoundTrip(req)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return t.next.RoundTrip(r)
}

// capture wraps h and keeps the last request body and response body.
type capture struct {
	h        http.Handler
	mu       sync.Mutex
	reqBody  string
	respBody string
	status   int
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := new(strings.Builder)
	if r.Body != nil {
		b := make([]byte, 0, 512)
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		body.Write(b)
		r.Body = readCloser{strings.NewReader(string(b))}
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r)
	c.mu.Lock()
	c.reqBody, c.respBody, c.status = body.String(), rec.Body.String(), rec.Code
	c.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (c *capture) last() (req, resp string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reqBody, c.respBody
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// model is the trimmed botocore model with the aws-sdk-go-v2 overlay
// applied, read with encoding/json for tests that check the generated code
// against it independently of ecgen.
type model struct {
	Metadata   map[string]any      `json:"metadata"`
	Operations map[string]modelOp  `json:"operations"`
	Shapes     map[string]modelShp `json:"shapes"`
}

type modelOp struct {
	Input  *struct{ Shape string } `json:"input"`
	Output *struct {
		Shape         string `json:"shape"`
		ResultWrapper string `json:"resultWrapper"`
	} `json:"output"`
	Errors []struct{ Shape string } `json:"errors"`
}

type modelShp struct {
	Type  string `json:"type"`
	Error *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
		SenderFault    bool   `json:"senderFault"`
	} `json:"error"`
}

func loadModel(t *testing.T) *model {
	t.Helper()
	var m, ov model
	for path, dst := range map[string]*model{"model/service-2.json": &m, "model/aws-sdk-go-v2.json": &ov} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range ov.Operations {
		m.Operations[k] = v
	}
	for k, v := range ov.Shapes {
		m.Shapes[k] = v
	}
	return &m
}

// awsmiddlewareRequestID returns the request id the SDK read from the
// response.
func awsmiddlewareRequestID(md middleware.Metadata) (string, bool) {
	return awsmiddleware.GetRequestIDMetadata(md)
}
