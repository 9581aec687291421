package awsquery

import (
	"net/url"
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	for _, v := range []string{"plain", "tab\tnewline\nreturn\r", "ünïcödé 🎉", ""} {
		if err := CheckText(url.Values{"P": {v}}); err != nil {
			t.Errorf("%q refused: %v", v, err)
		}
	}
	for _, v := range []string{"\xff", "a\x00b", "\x1b[31m", "del\x7f", "c1\u0085", "ok\xc3"} {
		err := CheckText(url.Values{"P": {v}})
		if err == nil || err.(*Error).Code != "InvalidParameterValue" {
			t.Errorf("%q: %v, want InvalidParameterValue", v, err)
			continue
		}
		if strings.Contains(err.Error(), v) {
			t.Errorf("%q is quoted in %q", v, err)
		}
	}
	long := strings.Repeat("n", 100000) + "\x00"
	if err := CheckText(url.Values{long: {"v"}}); err == nil || len(err.Error()) > 300 {
		t.Errorf("a long bad name: %d-byte error", len(err.Error()))
	}
}
