package keyward

import (
	"strings"
	"testing"
)

func TestErrorfBoundsValues(t *testing.T) {
	huge := strings.Repeat("a", 900000)
	e := Errorf(EINVALID, ResourceUser, "Invalid user id %s. It must be short.", huge)
	if len(e.Message) > MaxQuotedBytes+100 || !strings.HasSuffix(e.Message, "... It must be short.") {
		t.Fatalf("message of %d bytes: %.80s", len(e.Message), e.Message)
	}
	args := []any{"x\x00\xffy"}
	if got := Errorf(EINVALID, ResourceNone, "v=%s", args...).Message; got != "v=x??y" {
		t.Errorf("sanitized message %q", got)
	}
	if args[0] != "x\x00\xffy" {
		t.Error("Errorf changed its caller's arguments")
	}
	if got := BoundValue(strings.Repeat("é", 400)); len(got) > MaxQuotedBytes+3 || !strings.HasSuffix(got, "é...") {
		t.Errorf("cut inside a character: %q", got[len(got)-8:])
	}
}

func TestValidateTagsText(t *testing.T) {
	for _, v := range []string{"\xff\x00<", "a\tb", "a\nb", "\u0085"} {
		if err := ValidateTags([]Tag{{Key: "k", Value: v}}); ErrorCode(err) != EINVALID {
			t.Errorf("tag value %q: %v", v, err)
		}
		if err := ValidateTags([]Tag{{Key: v, Value: "v"}}); ErrorCode(err) != EINVALID {
			t.Errorf("tag key %q: %v", v, err)
		}
	}
	if err := ValidateTags([]Tag{{Key: strings.Repeat("ü", 128), Value: strings.Repeat("é", 256)}}); err != nil {
		t.Errorf("128-character key, 256-character value (more bytes): %v", err)
	}
}
