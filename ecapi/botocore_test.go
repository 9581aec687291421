package ecapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"keyward/awsquery"
	"keyward/ecapi"
)

// TestBotocoreParsesResponses is a second opinion from another client:
// botocore's own Query parser reads the response of every operation (every
// output field set) and two error responses, and must find exactly the
// values the service returned. It needs python3 with botocore; without it
// the test is skipped, unless KEYWARD_REQUIRE_INTEGRATION=1.
func TestBotocoreParsesResponses(t *testing.T) {
	if err := exec.Command("python3", "-c", "import botocore").Run(); err != nil {
		if os.Getenv("KEYWARD_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("python3 with botocore is required: %v", err)
		}
		t.Skipf("python3 with botocore is not available: %v", err)
	}
	var (
		mu  sync.Mutex
		out any
		err error
	)
	c := &capture{h: ecapi.NewHandler(ecapi.ServiceFunc(func(ctx context.Context, op string, in any) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return out, err
	}), awsquery.Options{Logger: slog.New(slog.DiscardHandler)})}
	srv := httptest.NewServer(c)
	defer srv.Close()
	client := reflect.ValueOf(newClient(srv.URL))
	svcType := reflect.TypeOf((*ecapi.Service)(nil)).Elem()
	dir := t.TempDir()

	type entry struct {
		Op     string `json:"op"`
		Status int    `json:"status"`
		File   string `json:"file"`
		Key    string `json:"key"`
	}
	var manifest []entry
	wants := map[string]any{}
	send := func(key, op string, o any, e error) {
		mu.Lock()
		out, err = o, e
		mu.Unlock()
		call := client.MethodByName(op)
		in := reflect.New(call.Type().In(1).Elem())
		(&filler{}).fill(in.Elem())
		call.Call([]reflect.Value{reflect.ValueOf(context.Background()), in})
		c.mu.Lock()
		body, status := c.respBody, c.status
		c.mu.Unlock()
		file := filepath.Join(dir, key+".xml")
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		manifest = append(manifest, entry{op, status, file, key})
	}
	for _, op := range ecapi.Operations {
		sm, _ := svcType.MethodByName(op)
		if sm.Type.NumOut() != 2 {
			continue
		}
		want := reflect.New(sm.Type.Out(0).Elem())
		(&filler{n: 500}).fill(want.Elem())
		wants[op] = tree(t, want.Interface())
		send(op, op, want.Interface(), nil)
	}
	send("fault", "DeleteUser", nil, &ecapi.UserNotFoundFault{Message: "User u not found."})
	send("internal", "DeleteUser", nil, fmt.Errorf("boom"))

	mf := filepath.Join(dir, "manifest.json")
	b, _ := json.Marshal(manifest)
	if err := os.WriteFile(mf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "testdata/botocore_parse.py", "model/service-2.json", "model/aws-sdk-go-v2.json", mf)
	cmd.Stderr = os.Stderr
	raw, runErr := cmd.Output()
	if runErr != nil {
		t.Fatalf("botocore_parse.py: %v", runErr)
	}
	var parsed map[string]any
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatal(err)
	}
	for op, want := range wants {
		got, _ := parsed[op].(map[string]any)
		md, _ := got["ResponseMetadata"].(map[string]any)
		if id, _ := md["RequestId"].(string); len(id) != 36 {
			t.Errorf("%s: botocore found request id %v", op, md["RequestId"])
		}
		for _, d := range diffTrees(op, normTimes(want), normTimes(got), map[string]bool{"ResponseMetadata": true}) {
			t.Error(d)
		}
	}
	for key, want := range map[string][3]string{
		"fault":    {"UserNotFound", "User u not found.", "Sender"},
		"internal": {"InternalFailure", "The request processing has failed because of an unknown error, exception or failure.", "Receiver"},
	} {
		got, _ := parsed[key].(map[string]any)
		e, _ := got["Error"].(map[string]any)
		if e["Code"] != want[0] || e["Message"] != want[1] || e["Type"] != want[2] {
			t.Errorf("%s: botocore parsed %v", key, got)
		}
	}
}

// normTimes rewrites every string that is an RFC 3339 timestamp in the
// response format, so that Go's and Python's renderings compare equal.
func normTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normTimes(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = normTimes(e)
		}
		return s
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC().Format(awsquery.TimeFormat)
		}
	}
	return v
}
