package ecapi_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"keyward/awsquery"
	"keyward/ecapi"
)

// fuzzService answers every operation with a fully populated output, or
// with a modelled fault for some inputs; it never returns a non-API error,
// so the handler must never answer 5xx.
func fuzzService() ecapi.Service {
	outs := map[string]any{}
	svcType := reflect.TypeOf((*ecapi.Service)(nil)).Elem()
	for _, op := range ecapi.Operations {
		sm, _ := svcType.MethodByName(op)
		if sm.Type.NumOut() == 2 {
			v := reflect.New(sm.Type.Out(0).Elem())
			(&filler{n: 7}).fill(v.Elem())
			outs[op] = v.Interface()
		}
	}
	var n int
	var mu sync.Mutex
	return ecapi.ServiceFunc(func(ctx context.Context, op string, in any) (any, error) {
		mu.Lock()
		n++
		odd := n%5 == 0
		mu.Unlock()
		if odd {
			f, _ := ecapi.NewFault("InvalidParameterCombinationException", "no <way> & \xff")
			return nil, f
		}
		return outs[op], nil
	})
}

// sdkBodies returns the request bodies the real SDK sends for every
// operation with every input field set.
func sdkBodies(tb testing.TB) []string {
	var bodies []string
	c := &capture{h: ecapi.NewHandler(ecapi.UnimplementedService{}, awsquery.Options{})}
	srv := httptest.NewServer(c)
	defer srv.Close()
	client := reflect.ValueOf(newClient(srv.URL))
	for _, op := range ecapi.Operations {
		call := client.MethodByName(op)
		in := reflect.New(call.Type().In(1).Elem())
		(&filler{}).fill(in.Elem())
		call.Call([]reflect.Value{reflect.ValueOf(context.Background()), in})
		req, _ := c.last()
		bodies = append(bodies, req)
	}
	return bodies
}

func FuzzHandler(f *testing.F) {
	for _, b := range sdkBodies(f) {
		f.Add("", []byte(b))
	}
	for _, s := range [][2]string{
		{"", ""},
		{"Action=DescribeUsers&Version=2015-02-02", ""},
		{"Version=2015-02-02", "Action=CreateUser&UserId=a&UserName=b&Engine=redis&AccessString=on&Passwords.member.1=x&Tags.Tag.1.Key=k"},
		{"", "Action=DescribeUsers&Version=2015-02-02&Filters.member.1.Name=n&Filters.member.1.Values.member.1=v&Filters.member.2.Name="},
		{"", "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=r&ReplicationGroupDescription=d&NodeGroupConfiguration.NodeGroupConfiguration.1.Slots=0-1"},
		{"a=%zz", "b=;"},
		{"", "Action=DescribeEvents&Version=2015-02-02&StartTime=1e300&MaxRecords=-2147483649"},
		{"", "Action=ModifyUser&Version=2015-02-02&UserId=a&Passwords=&AuthenticationMode.Type=iam&AuthenticationMode.Passwords="},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	h := ecapi.NewHandler(fuzzService(), awsquery.Options{Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: 1 << 16})
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		method := http.MethodPost
		if len(body) == 0 {
			method = http.MethodGet
		}
		r := &http.Request{
			Method: method, URL: &url.URL{Path: "/", RawQuery: query}, Header: http.Header{},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		r = r.WithContext(context.Background())
		if method == http.MethodPost {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("status %d for query %q body %q: %s", rec.Code, query, body, rec.Body.String())
		}
		if rec.Header().Get("x-amzn-RequestId") == "" {
			t.Fatal("no request id header")
		}
		dec := xml.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		var root string
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("response is not well-formed XML (%v): %s", err, rec.Body.String())
			}
			if se, ok := tok.(xml.StartElement); ok && root == "" {
				root = se.Name.Local
			}
		}
		if rec.Code == http.StatusOK && !strings.HasSuffix(root, "Response") || rec.Code != http.StatusOK && root != "ErrorResponse" {
			t.Fatalf("status %d with root element %q", rec.Code, root)
		}
	})
}
