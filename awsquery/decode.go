package awsquery

import (
	"encoding/base64"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Decoder gives generated input decoders access to the parameters of one
// request. Parameter names are the Query protocol's dotted paths:
// "UserId", "AuthenticationMode.Type", "Tags.Tag.1.Key",
// "Filters.member.2.Values.member.1".
//
// Lookups are O(1) (Value) or O(log n) (Has), so a hostile request with many
// parameters costs little more than reading it.
type Decoder struct {
	values url.Values
	keys   []string // sorted parameter names, built on the first Has
}

// NewDecoder returns a Decoder over v. v must not change while it is in use.
func NewDecoder(v url.Values) *Decoder { return &Decoder{values: v} }

// Values returns the parameters the Decoder reads.
func (d *Decoder) Values() url.Values { return d.values }

// Value returns the first value of the parameter name and whether it was
// present at all ("Name=" is present with value "").
func (d *Decoder) Value(name string) (string, bool) {
	vs, ok := d.values[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// smallForm is the size up to which Has scans the parameters instead of
// searching their sorted names.
const smallForm = 16

// Has reports whether the parameter name or any parameter below it
// (name + "." + anything) is present. It decides whether a structure or a
// list element was sent.
func (d *Decoder) Has(name string) bool {
	if _, ok := d.values[name]; ok {
		return true
	}
	if d.keys == nil && len(d.values) <= smallForm {
		// A request of a few parameters (most are) is scanned: cheaper
		// than sorting its names into a slice allocated for it.
		for k := range d.values {
			if len(k) > len(name) && k[len(name)] == '.' && k[:len(name)] == name {
				return true
			}
		}
		return false
	}
	if d.keys == nil {
		d.keys = make([]string, 0, len(d.values))
		for k := range d.values {
			d.keys = append(d.keys, k)
		}
		slices.Sort(d.keys)
	}
	// The names below name are those starting with name + "."; they are
	// contiguous in sorted order and start at the first key >= name + ".".
	i, _ := slices.BinarySearchFunc(d.keys, name, compareChild)
	if i >= len(d.keys) {
		return false
	}
	k := d.keys[i]
	return len(k) > len(name) && k[len(name)] == '.' && k[:len(name)] == name
}

// compareChild compares key with name + "." without building that string.
func compareChild(key, name string) int {
	n := min(len(key), len(name))
	if c := strings.Compare(key[:n], name[:n]); c != 0 {
		return c
	}
	if len(key) < len(name) {
		return -1
	}
	if len(key) == len(name) {
		return -1 // key == name sorts before name + "."
	}
	return int(key[len(name)]) - '.'
}

// Item returns the name of the i-th (1-based) element of a list whose
// elements are named prefix.1, prefix.2...
func Item(prefix string, i int) string {
	return prefix + "." + strconv.Itoa(i)
}

// ParseInt32 parses s as a decimal 32-bit integer for parameter name.
func ParseInt32(name, s string) (int32, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, InvalidValue(name, s, "an integer")
	}
	return int32(v), nil
}

// ParseInt64 parses s as a decimal 64-bit integer for parameter name.
func ParseInt64(name, s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, InvalidValue(name, s, "an integer")
	}
	return v, nil
}

// ParseFloat64 parses s as a number for parameter name. NaN and infinities
// are refused.
func ParseFloat64(name, s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, InvalidValue(name, s, "a number")
	}
	return v, nil
}

// ParseFloat32 parses s as a 32-bit number for parameter name.
func ParseFloat32(name, s string) (float32, error) {
	v, err := strconv.ParseFloat(s, 32)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, InvalidValue(name, s, "a number")
	}
	return float32(v), nil
}

// ParseBool parses "true" or "false", in any letter case, for parameter name.
func ParseBool(name, s string) (bool, error) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, nil
	case strings.EqualFold(s, "false"):
		return false, nil
	}
	return false, InvalidValue(name, s, "true or false")
}

// ParseTime parses an ISO 8601 timestamp (RFC 3339, with or without
// fractional seconds, "Z" or an offset) or a number of seconds since the Unix
// epoch, for parameter name. The result is in UTC.
func ParseTime(name, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t.UTC(), nil // no zone: UTC, as AWS assumes
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC(), nil
	}
	return time.Time{}, InvalidValue(name, s, "an ISO 8601 timestamp")
}

// ParseBlob decodes standard base64 for parameter name.
func ParseBlob(name, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, InvalidValue(name, s, "base64 data")
	}
	return b, nil
}
