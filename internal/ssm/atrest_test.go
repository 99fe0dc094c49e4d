package ssm_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-project/berth/internal/berthtest"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestEtcdHoldsNoParameterValueInTheClear(t *testing.T) {
	srv := berthtest.Start(t)
	c := srv.SSMClient()
	values := map[string]types.ParameterType{
		"plaintext-secure-value-31337": types.ParameterTypeSecureString,
		"plaintext-string-value-4242":  types.ParameterTypeString,
		"list-item-one,list-item-two":  types.ParameterTypeStringList,
	}
	i := 0
	for v, typ := range values {
		i++
		name := "/at-rest/p" + string(rune('0'+i))
		put(t, c, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(v), Type: typ})
		put(t, c, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(v + "-v2"), Overwrite: aws.Bool(true)})
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.EtcdEndpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var parameters int
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Key), "/ssm-parameters/") {
			parameters++
		}
		for v := range values {
			for _, part := range append(strings.Split(v, ","), v+"-v2") {
				if strings.Contains(string(kv.Value), part) {
					t.Errorf("etcd key %s holds %q in the clear", kv.Key, part)
				}
			}
		}
	}
	if parameters != len(values) {
		t.Fatalf("found %d parameter records in etcd, want %d", parameters, len(values))
	}
	// The values are there, sealed: they come back in the clear through the API.
	if p := get(t, c, "/at-rest/p1", true); !strings.HasSuffix(aws.ToString(p.Value), "-v2") {
		t.Fatalf("value %q", aws.ToString(p.Value))
	}
	info, err := os.Stat(filepath.Join(srv.DataDir, "seal.keys"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v, %v", info, err)
	}
}

func TestAnotherAccountSeesNoneOfTheParameters(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[other]\naws_access_key_id = AKIAOTHERACCOUNT0001\naws_secret_access_key = other-secret\naccount_id = 210987654321\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := berthtest.Start(t, berthtest.WithCredentialsFile(creds))
	mine, theirs := srv.SSMClient(), srv.SSMClientFor("AKIAOTHERACCOUNT0001", "other-secret", berthtest.Region)
	put(t, mine, &ssm.PutParameterInput{Name: aws.String("/shared/name"), Value: aws.String("mine"), Type: types.ParameterTypeSecureString})

	_, err := theirs.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/shared/name"), WithDecryption: aws.Bool(true)})
	wantError(t, err, "ParameterNotFound", "")
	d, err := theirs.DescribeParameters(ctx, &ssm.DescribeParametersInput{})
	if err != nil || len(d.Parameters) != 0 {
		t.Fatalf("the other account describes %+v, %v", d, err)
	}
	byPath, err := theirs.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/"), Recursive: aws.Bool(true)})
	if err != nil || len(byPath.Parameters) != 0 {
		t.Fatalf("the other account by path %+v, %v", byPath, err)
	}
	// The same name in the other account is a parameter of its own.
	out := put(t, theirs, &ssm.PutParameterInput{Name: aws.String("/shared/name"), Value: aws.String("theirs"), Type: types.ParameterTypeString})
	if out.Version != 1 {
		t.Fatalf("the other account's version %d", out.Version)
	}
	if p := get(t, mine, "/shared/name", true); aws.ToString(p.Value) != "mine" || p.Version != 1 {
		t.Fatalf("mine after theirs: %+v", p)
	}
	if p := get(t, theirs, "/shared/name", false); !strings.Contains(aws.ToString(p.ARN), ":210987654321:parameter/shared/name") {
		t.Fatalf("their ARN %s", aws.ToString(p.ARN))
	}
}
