package keyward

import (
	"testing"
	"time"
)

func TestReservationStateAt(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := &ReservedCacheNode{StartTime: start, ActiveAt: start.Add(2 * time.Second), Duration: 31536000}
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{start, ReservationPaymentPending},
		{start.Add(1999 * time.Millisecond), ReservationPaymentPending},
		{start.Add(2 * time.Second), ReservationActive},
		{start.Add(365*24*time.Hour - time.Second), ReservationActive},
		{start.Add(365 * 24 * time.Hour), ReservationRetired},
	} {
		if got := r.StateAt(c.at); got != c.want {
			t.Errorf("StateAt(start+%v) = %s, want %s", c.at.Sub(start), got, c.want)
		}
	}
}
