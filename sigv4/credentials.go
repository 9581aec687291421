package sigv4

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Credential is one access key: its id, its secret and the account it
// acts for.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	AccountID       string
}

// String never shows the secret, so a Credential can be logged or
// formatted with %v safely.
func (c Credential) String() string {
	return fmt.Sprintf("{AccessKeyID:%s SecretAccessKey:REDACTED AccountID:%s}", c.AccessKeyID, c.AccountID)
}

// GoString keeps %#v from showing the secret either.
func (c Credential) GoString() string { return "sigv4.Credential" + c.String() }

// Validate checks the shape of a credential. Its messages quote no field:
// not the secret, and not the access key id either, which could be a
// secret pasted into the wrong column.
func (c Credential) Validate() error {
	if !validKeyID(c.AccessKeyID) {
		return errors.New("access key id must be 1 to 128 letters, digits or underscores")
	}
	if c.SecretAccessKey == "" {
		return errors.New("secret access key is empty")
	}
	for i := 0; i < len(c.SecretAccessKey); i++ {
		if b := c.SecretAccessKey[i]; b <= ' ' || b >= 0x7f {
			return errors.New("secret access key must be printable ASCII without spaces")
		}
	}
	if !validAccountID(c.AccountID) {
		return errors.New("account id must be 12 digits")
	}
	return nil
}

// validKeyID accepts what IAM accepts for access key ids ([\w]+, at most
// 128 characters), which excludes every separator of the Authorization
// header and credential scope.
func validKeyID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NewVerifier builds a Verifier for creds with the default service
// ("elasticache"), skew (15 minutes) and clock.
//
// A credential that fails Validate is left out (its key is then unknown,
// never accepted with, say, an empty secret), and of two credentials with
// the same access key id the first is kept. Call ValidateCredentials first
// to report such mistakes instead.
func NewVerifier(creds []Credential) *Verifier {
	m := make(map[string]Credential, len(creds))
	for _, c := range creds {
		if c.Validate() != nil {
			continue
		}
		if _, dup := m[c.AccessKeyID]; !dup {
			m[c.AccessKeyID] = c
		}
	}
	return &Verifier{Credentials: m}
}

// ValidateCredentials checks every credential with Validate and rejects
// duplicate access key ids. Errors identify credentials by position
// (1-based) and quote no field.
func ValidateCredentials(creds []Credential) error {
	seen := make(map[string]int, len(creds))
	for i, c := range creds {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("credential %d: %w", i+1, err)
		}
		if prev, dup := seen[c.AccessKeyID]; dup {
			return fmt.Errorf("credential %d: same access key id as credential %d", i+1, prev)
		}
		seen[c.AccessKeyID] = i + 1
	}
	return nil
}

// LoadCredentialsFile reads credentials in the format described in the
// package documentation: one "ACCESS_KEY_ID SECRET_ACCESS_KEY ACCOUNT_ID"
// per line, blank lines and lines starting with "#" ignored.
//
// Like ssh with private keys, it refuses a file that its group or others
// may read, write or execute (mode & 0o077 != 0), and anything but a
// regular file. Errors name the file and line, never a secret.
func LoadCredentialsFile(path string) ([]Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("credentials file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("credentials file %s is accessible by group or others (mode %#o); it holds secret keys: chmod 600 %s", path, perm, path)
	}

	var creds []Credential
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want 3 fields (ACCESS_KEY_ID SECRET_ACCESS_KEY ACCOUNT_ID), got %d", path, n, len(fields))
		}
		c := Credential{AccessKeyID: fields[0], SecretAccessKey: fields[1], AccountID: fields[2]}
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if prev, dup := seen[c.AccessKeyID]; dup {
			return nil, fmt.Errorf("%s:%d: access key id already defined on line %d", path, n, prev)
		}
		seen[c.AccessKeyID] = n
		creds = append(creds, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return creds, nil
}
