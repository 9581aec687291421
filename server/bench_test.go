package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"keyward/keywardtest"
)

// Benchmarks of whole API calls over HTTP, without the SDK (which costs
// about as much CPU as keyward): go test -run X -bench . ./server/
// For a profile of the server's side, add -cpuprofile and focus on
// ServeHTTP.

func post(b *testing.B, c *http.Client, url, form string) {
	resp, err := c.Post(url, "application/x-www-form-urlencoded; charset=utf-8", strings.NewReader(form))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %d %s", form, resp.StatusCode, body)
	}
}

func createForm(id string) string {
	return "Action=CreateUser&Version=2015-02-02&UserId=" + id + "&UserName=" + id +
		"&Engine=redis&AccessString=on%20~*%20%2B%40all&Passwords.member.1=bench-password-0123456789"
}

func BenchmarkDescribeUsers(b *testing.B) {
	ts := keywardtest.New(b)
	c := &http.Client{}
	const n = 200
	for i := range n {
		post(b, c, ts.URL(), createForm(fmt.Sprintf("u%d", i)))
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			post(b, c, ts.URL(), fmt.Sprintf("Action=DescribeUsers&Version=2015-02-02&UserId=u%d", seq.Add(1)%n))
		}
	})
}

func BenchmarkLifecycle(b *testing.B) {
	ts := keywardtest.New(b)
	c := &http.Client{}
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("u%d", seq.Add(1))
			post(b, c, ts.URL(), createForm(id))
			post(b, c, ts.URL(), "Action=DescribeUsers&Version=2015-02-02&UserId="+id)
			post(b, c, ts.URL(), "Action=DeleteUser&Version=2015-02-02&UserId="+id)
		}
	})
}
