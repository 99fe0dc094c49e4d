package command

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func TestCredentialsAreTakenTheAWSWay(t *testing.T) {
	file := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(file, []byte("[default]\naws_access_key_id = AKIAREALAWS\naws_secret_access_key = real\n\n[alice]\naws_access_key_id = AKIAALICE\naws_secret_access_key = alice-secret\naws_session_token = tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantID  string
		wantErr bool
	}{
		{"flags win over everything", []string{"--access-key-id", "AKIAFLAG", "--secret-access-key", "s", "--profile", "alice"},
			map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e"}, "AKIAFLAG", false},
		{"one key flag without the other is refused", []string{"--access-key-id", "AKIAFLAG"}, nil, "", true},
		{"--profile wins over the environment's keys", []string{"--profile", "alice"},
			map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e"}, "AKIAALICE", false},
		{"the environment's keys win over AWS_PROFILE", nil,
			map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e", "AWS_PROFILE": "alice"}, "AKIAENV", false},
		{"AWS_PROFILE names a profile", nil, map[string]string{"AWS_PROFILE": "alice"}, "AKIAALICE", false},
		{"a profile that is not there is an error", []string{"--profile", "bob"}, nil, "", true},
		{"nothing set: the development key, not the file's [default]", nil, nil, "AKIABERTHDEVLOCAL000", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"AWS_SHARED_CREDENTIALS_FILE": file}
			for k, v := range tc.env {
				env[k] = v
			}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			f := AddCredentialFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			creds, source, err := f.Resolve(func(k string) string { return env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && creds.AccessKeyID != tc.wantID {
				t.Fatalf("signing as %s (from %s), want %s", creds.AccessKeyID, source, tc.wantID)
			}
			if tc.wantID == "AKIAALICE" && creds.SessionToken != "tok" {
				t.Fatalf("profile's session token %q", creds.SessionToken)
			}
		})
	}
}
