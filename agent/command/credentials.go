package command

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-project/berth/api/auth"
)

// CredentialFlags are the ways `berth agent` and `berth simulate` are given
// the key pair they sign with, the AWS way. The first that is set wins:
//
//  1. --access-key-id and --secret-access-key;
//  2. --profile, a profile of the AWS shared credentials file;
//  3. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN);
//  4. AWS_PROFILE;
//  5. Berth's development key pair.
//
// The shared credentials file is AWS_SHARED_CREDENTIALS_FILE, else
// ~/.aws/credentials. Only a profile that is named is read: a [default]
// profile holding real AWS keys is not sent to Berth unasked.
type CredentialFlags struct {
	accessKeyID, secretAccessKey, profile *string
}

// AddCredentialFlags defines the credential flags on fs.
func AddCredentialFlags(fs *flag.FlagSet) *CredentialFlags {
	return &CredentialFlags{
		accessKeyID:     fs.String("access-key-id", "", "access key id to sign with, with --secret-access-key (else --profile, AWS_ACCESS_KEY_ID, AWS_PROFILE, or Berth's development key)"),
		secretAccessKey: fs.String("secret-access-key", "", "secret access key to sign with; others on this machine can read it in the process list, so prefer AWS_SECRET_ACCESS_KEY or a profile"),
		profile:         fs.String("profile", "", "profile of the AWS shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) to sign with; AWS_PROFILE names one too, after AWS_ACCESS_KEY_ID"),
	}
}

// Resolve picks the key pair, and says where it came from (for the log; it
// names no secret).
func (f *CredentialFlags) Resolve(getenv func(string) string) (aws.Credentials, string, error) {
	id, secret := *f.accessKeyID, *f.secretAccessKey
	switch {
	case id != "" && secret != "":
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, "--access-key-id", nil
	case id != "" || secret != "":
		return aws.Credentials{}, "", errors.New("--access-key-id and --secret-access-key go together")
	case *f.profile != "":
		return fromProfile(getenv, *f.profile)
	}
	if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: getenv("AWS_SESSION_TOKEN")}, "AWS_ACCESS_KEY_ID", nil
	}
	if p := getenv("AWS_PROFILE"); p != "" {
		return fromProfile(getenv, p)
	}
	return aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}, "the development key", nil
}

func fromProfile(getenv func(string) string, name string) (aws.Credentials, string, error) {
	path := getenv("AWS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		path = filepath.Join(home(), ".aws", "credentials")
	}
	p, err := auth.LoadProfile(path, name)
	if err != nil {
		return aws.Credentials{}, "", err
	}
	return aws.Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey, SessionToken: p.SessionToken},
		fmt.Sprintf("profile %s of %s", name, path), nil
}
