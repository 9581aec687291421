package sigv4

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestRegionsRefused(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	served := func(r string) bool { return r == testRegion }
	v := testVerifier(now)
	v.Regions = served
	srv, _ := newServer(t, &Middleware{Verifier: v})
	for region, want := range map[string]int{testRegion: 200, "zz-fake-1": 403} {
		r := clientRequest(t, http.MethodPost, srv.URL, queryBody)
		sdkSign(t, r, []byte(queryBody), testKeyID, testSecret, region, now)
		status, doc := do(t, r)
		if status != want {
			t.Errorf("signed for %s: %d %+v, want %d", region, status, doc, want)
		}
		if want == 403 && (doc.Code != CodeSignatureDoesNotMatch || doc.Message != "Credential should be scoped to a valid region, not 'zz-fake-1'. ") {
			t.Errorf("signed for %s: %+v", region, doc)
		}
	}
	// Unauthenticated mode: the region of the unverified scope.
	srv, _ = newServer(t, &Middleware{Regions: served, DefaultRegion: testRegion})
	r := clientRequest(t, http.MethodPost, srv.URL, queryBody)
	sdkSign(t, r, []byte(queryBody), "dummy", "dummy", "zz-fake-1", now)
	if status, doc := do(t, r); status != 403 || doc.Code != CodeSignatureDoesNotMatch {
		t.Errorf("unsigned mode, region zz-fake-1: %d %+v", status, doc)
	}
	if status, _ := do(t, clientRequest(t, http.MethodPost, srv.URL, queryBody)); status != 200 {
		t.Errorf("unsigned mode without a scope: %d", status)
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(10)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if !b.Acquire(ctx, 6) || !b.Acquire(ctx, 4) {
		t.Fatal("acquire within the budget failed")
	}
	if b.Acquire(ctx, 1) {
		t.Fatal("acquired beyond the budget")
	}
	done := make(chan bool)
	go func() { done <- b.Acquire(context.Background(), 100) }() // clamped to the whole budget
	time.Sleep(10 * time.Millisecond)
	b.Release(6)
	b.Release(4)
	if !<-done {
		t.Fatal("a waiter was not woken by Release")
	}
	if b.Available() != 0 {
		t.Fatalf("available %d, want 0", b.Available())
	}
	b.Release(100)
	if b.Available() != 10 {
		t.Fatalf("available %d, want 10", b.Available())
	}
}
