package sigv4

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCredentialsFile(t *testing.T) {
	p := writeFile(t, `# keyward credentials
AKIAKEYWARDEXAMPLE01   wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY   123456789012

	AKIAKEYWARDEXAMPLE02	je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY	210987654321  
   # indented comment
test test 000000000000
`, 0o600)
	got, err := LoadCredentialsFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Credential{
		{"AKIAKEYWARDEXAMPLE01", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "123456789012"},
		{"AKIAKEYWARDEXAMPLE02", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", "210987654321"},
		{"test", "test", "000000000000"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d credentials", len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("credential %d = %v, want %v", i, got[i], want[i])
		}
	}
	if err := ValidateCredentials(got); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(got)
	if len(v.Credentials) != 3 || v.Credentials["test"].AccountID != "000000000000" {
		t.Fatalf("verifier credentials: %v", v.Credentials)
	}

	// An empty file is no credentials, not an error.
	got, err = LoadCredentialsFile(writeFile(t, "# nothing yet\n", 0o400))
	if err != nil || len(got) != 0 {
		t.Fatalf("empty: %v, %v", got, err)
	}
}

const secretMarker = "SuperSecret/Value+123"

func TestLoadCredentialsFileErrors(t *testing.T) {
	for name, c := range map[string]struct {
		content string
		mode    os.FileMode
		want    string
	}{
		"group readable": {"AKIA " + secretMarker + " 123456789012\n", 0o640, "accessible by group or others (mode 0640)"},
		"world readable": {"AKIA " + secretMarker + " 123456789012\n", 0o644, "chmod 600"},
		"two fields":     {"AKIA " + secretMarker + "\n", 0o600, ":1: want 3 fields"},
		"four fields":    {"\nAKIA " + secretMarker + " 123456789012 extra\n", 0o600, ":2: want 3 fields"},
		"short account":  {"AKIA " + secretMarker + " 12345\n", 0o600, ":1: account id must be 12 digits"},
		"alpha account":  {"AKIA " + secretMarker + " 12345678901a\n", 0o600, "account id must be 12 digits"},
		"bad key id":     {"AKIA/X " + secretMarker + " 123456789012\n", 0o600, "access key id must be"},
		"duplicate":      {"AKIA " + secretMarker + " 123456789012\nAKIA other 123456789012\n", 0o600, ":2: access key id already defined on line 1"},
		"swapped":        {secretMarker + " AKIA 123456789012\n", 0o600, "access key id must be"},
		"secret in id":   {"SuperSecretValue123 AKIA 12345\n", 0o600, "account id"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadCredentialsFile(writeFile(t, c.content, c.mode))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "SuperSecret") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}

	if _, err := LoadCredentialsFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
	if _, err := LoadCredentialsFile(t.TempDir()); err == nil {
		t.Fatal("directory accepted")
	}
}

func TestValidateCredentials(t *testing.T) {
	ok := Credential{"AKIA1", secretMarker, "123456789012"}
	for name, c := range map[string]struct {
		creds []Credential
		want  string
	}{
		"empty secret":  {[]Credential{{"AKIA1", "", "123456789012"}}, "credential 1: secret access key is empty"},
		"space secret":  {[]Credential{ok, {"AKIA2", "a b", "123456789012"}}, "credential 2: secret access key must be printable"},
		"empty key id":  {[]Credential{{"", secretMarker, "123456789012"}}, "access key id must be"},
		"long key id":   {[]Credential{{strings.Repeat("A", 129), secretMarker, "123456789012"}}, "access key id must be"},
		"bad account":   {[]Credential{{"AKIA1", secretMarker, ""}}, "account id must be 12 digits"},
		"duplicate ids": {[]Credential{ok, ok}, "credential 2: same access key id as credential 1"},
	} {
		err := ValidateCredentials(c.creds)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error = %v, want %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "SuperSecret") {
			t.Errorf("%s: secret in error", name)
		}
	}
	if err := ValidateCredentials([]Credential{ok}); err != nil {
		t.Fatal(err)
	}

	// NewVerifier never accepts an invalid credential, and keeps the first
	// of two with the same id.
	v := NewVerifier([]Credential{{"AKIA0", "", "123456789012"}, ok, {"AKIA1", "second", "210987654321"}})
	if _, found := v.Credentials["AKIA0"]; found {
		t.Fatal("credential with an empty secret kept")
	}
	if v.Credentials["AKIA1"].SecretAccessKey != secretMarker {
		t.Fatal("duplicate replaced the first credential")
	}
}

func TestCredentialFormatting(t *testing.T) {
	c := Credential{"AKIA1", secretMarker, "123456789012"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprint([]Credential{c}), fmt.Sprintf("%+v", &c)} {
		if strings.Contains(s, "SuperSecret") {
			t.Fatalf("secret formatted: %s", s)
		}
		if !strings.Contains(s, "AKIA1") {
			t.Fatalf("key id missing: %s", s)
		}
	}
}
