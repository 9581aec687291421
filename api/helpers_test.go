package api_test

import (
	"errors"
	"time"

	"github.com/aws/smithy-go"
)

// errorMessage returns the code and message of an SDK API error.
func errorMessage(err error) (string, string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

// awayFromNow picks the daily snapshot window (or DailySnapshotTime) that
// the wall clock is not near: am, a time between 02:00 and 12:00 UTC, in
// the afternoon, pm, one between 14:00 and 24:00, in the morning. A test
// whose group keeps automatic backups and which expects the group
// available throughout then never meets its backup: the reconciler would
// otherwise start one (snapshotting) whenever the test runs in the window.
func awayFromNow(am, pm string) string {
	if time.Now().UTC().Hour() < 12 {
		return pm
	}
	return am
}
