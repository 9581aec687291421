package awsquery

import (
	"fmt"
	"net/url"
	"unicode/utf8"
)

// CheckText refuses, with InvalidParameterValue, a request with a
// parameter name or value that is not valid UTF-8 or that holds a control
// character other than tab, line feed and carriage return. Every string
// input of the model is text: such bytes could not be stored and returned
// unchanged (XML cannot carry them, and invalid UTF-8 comes back as
// U+FFFD), and nothing accepted may come back different. The value is not
// quoted in the message; the name is, bounded.
func CheckText(values url.Values) error {
	for name, vs := range values {
		if bad, r := badText(name); bad {
			return InvalidParameterValue(fmt.Sprintf("The parameter name %s is not valid UTF-8 text%s.", quoteValue(safe(name)), which(r)))
		}
		for _, v := range vs {
			if bad, r := badText(v); bad {
				return InvalidParameterValue(fmt.Sprintf("Invalid value for parameter %s: the value must be valid UTF-8 text without control characters%s.", truncate(name), which(r)))
			}
		}
	}
	return nil
}

// badText reports whether s is invalid UTF-8 (r is utf8.RuneError) or holds
// a control character r that text inputs do not allow.
func badText(s string) (bool, rune) {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return true, utf8.RuneError
		case r == '\t' || r == '\n' || r == '\r':
		case r < 0x20 || r >= 0x7f && r <= 0x9f:
			return true, r
		}
		i += n
	}
	return false, 0
}

// which names the offending character for a message.
func which(r rune) string {
	if r == utf8.RuneError {
		return " (it holds bytes that are not UTF-8)"
	}
	return fmt.Sprintf(" (it holds the control character U+%04X)", r)
}

// safe replaces what badText refuses, so that a name can be quoted.
func safe(s string) string {
	out := []rune{}
	for _, r := range []rune(s) {
		if r == utf8.RuneError || r < 0x20 || r >= 0x7f && r <= 0x9f {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}
