package ssm_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/berth-project/berth/internal/berthtest"
)

func newSealKey(t *testing.T, id string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return id + " " + base64.StdEncoding.EncodeToString(b)
}

func TestValuesOpenAfterARestartWithTheDataDirectorysKeyFile(t *testing.T) {
	srv := berthtest.Start(t)
	put(t, srv.SSMClient(), &ssm.PutParameterInput{Name: aws.String("/kept"), Value: aws.String("across restarts"), Type: types.ParameterTypeSecureString})
	srv.Restart()
	if p := get(t, srv.SSMClient(), "/kept", true); aws.ToString(p.Value) != "across restarts" {
		t.Fatalf("after restart %q", aws.ToString(p.Value))
	}
}

func TestARotatedKeyringInTheEnvironmentOpensOldValuesAndSealsNewOnes(t *testing.T) {
	k1, k2 := newSealKey(t, "k1"), newSealKey(t, "k2")
	srv := berthtest.Start(t, berthtest.WithEnv(map[string]string{"BERTH_SEAL_KEYS": k1}))
	if _, err := os.Stat(filepath.Join(srv.DataDir, "seal.keys")); !os.IsNotExist(err) {
		t.Fatalf("a key file was made although BERTH_SEAL_KEYS is set: %v", err)
	}
	c := srv.SSMClient()
	put(t, c, &ssm.PutParameterInput{Name: aws.String("/rotated"), Value: aws.String("old key"), Type: types.ParameterTypeSecureString})

	srv.Restart(berthtest.WithEnv(map[string]string{"BERTH_SEAL_KEYS": k2 + "," + k1}))
	c = srv.SSMClient()
	if p := get(t, c, "/rotated", true); aws.ToString(p.Value) != "old key" {
		t.Fatalf("the value sealed with k1, after rotation: %q", aws.ToString(p.Value))
	}
	put(t, c, &ssm.PutParameterInput{Name: aws.String("/rotated"), Value: aws.String("new key"), Overwrite: aws.Bool(true)})

	// With k1 gone, version 2 (sealed with k2) opens and version 1 does not.
	srv.Restart(berthtest.WithEnv(map[string]string{"BERTH_SEAL_KEYS": k2}))
	c = srv.SSMClient()
	if p := get(t, c, "/rotated", true); aws.ToString(p.Value) != "new key" {
		t.Fatalf("the value sealed with k2: %q", aws.ToString(p.Value))
	}
	_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/rotated:1"), WithDecryption: aws.Bool(true)})
	wantError(t, err, "ServerException", "")
}

func TestServersGivenOneKeyringFileOpenEachOthersValues(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "shared.keys")
	if err := os.WriteFile(keys, []byte(newSealKey(t, "shared")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := berthtest.Start(t, berthtest.WithSealKeysFile(keys))
	put(t, first.SSMClient(), &ssm.PutParameterInput{Name: aws.String("/fleet"), Value: aws.String("one key"), Type: types.ParameterTypeSecureString})
	second := berthtest.Start(t, berthtest.WithSealKeysFile(keys), berthtest.WithEtcdEndpoints(first.EtcdEndpoints()))
	if p := get(t, second.SSMClient(), "/fleet", true); aws.ToString(p.Value) != "one key" {
		t.Fatalf("the second server reads %q", aws.ToString(p.Value))
	}
}
