package ssm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
)

var ctx = context.Background()

func put(t *testing.T, c *ssm.Client, in *ssm.PutParameterInput) *ssm.PutParameterOutput {
	t.Helper()
	out, err := c.PutParameter(ctx, in)
	if err != nil {
		t.Fatalf("PutParameter %s: %v", aws.ToString(in.Name), err)
	}
	return out
}

func get(t *testing.T, c *ssm.Client, name string, decrypt bool) *types.Parameter {
	t.Helper()
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(decrypt)})
	if err != nil {
		t.Fatalf("GetParameter %s: %v", name, err)
	}
	return out.Parameter
}

// wantError checks that err is the SSM exception code, its message
// starting with prefix.
func wantError(t *testing.T, err error, code, prefix string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
	if !strings.HasPrefix(apiErr.ErrorMessage(), prefix) {
		t.Fatalf("%s message %q does not start with %q", code, apiErr.ErrorMessage(), prefix)
	}
}

func TestParametersThroughTheSDK(t *testing.T) {
	srv := berthtest.Start(t)
	c := srv.SSMClient()
	arn := "arn:aws:ssm:us-east-1:" + auth.DefaultAccountID + ":parameter/"

	t.Run("a String put is got back with its version, type and ARN without the leading slash", func(t *testing.T) {
		out := put(t, c, &ssm.PutParameterInput{Name: aws.String("/app/db/host"), Value: aws.String("db.internal"), Type: types.ParameterTypeString, Description: aws.String("the database")})
		if out.Version != 1 || out.Tier != types.ParameterTierStandard {
			t.Fatalf("put answered %+v", out)
		}
		p := get(t, c, "/app/db/host", false)
		if aws.ToString(p.Value) != "db.internal" || p.Version != 1 || p.Type != types.ParameterTypeString ||
			aws.ToString(p.ARN) != arn+"app/db/host" || aws.ToString(p.DataType) != "text" || p.LastModifiedDate == nil {
			t.Fatalf("parameter %+v", p)
		}
		put(t, c, &ssm.PutParameterInput{Name: aws.String("plain"), Value: aws.String("x"), Type: types.ParameterTypeString})
		if p := get(t, c, "plain", false); aws.ToString(p.ARN) != arn+"plain" {
			t.Fatalf("ARN of a name without a hierarchy: %s", aws.ToString(p.ARN))
		}
	})

	t.Run("a SecureString is answered in the clear only WithDecryption", func(t *testing.T) {
		put(t, c, &ssm.PutParameterInput{Name: aws.String("/app/db/password"), Value: aws.String("hunter2"), Type: types.ParameterTypeSecureString})
		if p := get(t, c, "/app/db/password", true); aws.ToString(p.Value) != "hunter2" {
			t.Fatalf("decrypted value %q", aws.ToString(p.Value))
		}
		p := get(t, c, "/app/db/password", false)
		if v := aws.ToString(p.Value); v == "" || strings.Contains(v, "hunter2") {
			t.Fatalf("value without decryption %q", v)
		}
		d, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []types.ParameterStringFilter{{Key: aws.String("Name"), Values: []string{"/app/db/password"}}}})
		if err != nil || len(d.Parameters) != 1 || aws.ToString(d.Parameters[0].KeyId) != "alias/aws/ssm" {
			t.Fatalf("describe: %+v, %v", d, err)
		}
	})

	t.Run("overwrite adds versions, each got by its selector and listed in the history", func(t *testing.T) {
		for i, v := range []string{"v2", "v3"} {
			out := put(t, c, &ssm.PutParameterInput{Name: aws.String("/app/db/host"), Value: aws.String(v), Overwrite: aws.Bool(true)})
			if out.Version != int64(i+2) {
				t.Fatalf("version %d, want %d", out.Version, i+2)
			}
		}
		if p := get(t, c, "/app/db/host", false); aws.ToString(p.Value) != "v3" || p.Type != types.ParameterTypeString {
			t.Fatalf("latest %+v", p)
		}
		if p := get(t, c, "/app/db/host:1", false); aws.ToString(p.Value) != "db.internal" || aws.ToString(p.Selector) != ":1" {
			t.Fatalf("version 1 %+v", p)
		}
		h, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/app/db/host"), MaxResults: aws.Int32(2)})
		if err != nil || len(h.Parameters) != 2 || h.NextToken == nil {
			t.Fatalf("history page 1: %+v, %v", h, err)
		}
		h2, err := c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/app/db/host"), NextToken: h.NextToken})
		if err != nil || len(h2.Parameters) != 1 || h2.NextToken != nil {
			t.Fatalf("history page 2: %+v, %v", h2, err)
		}
		all := append(h.Parameters, h2.Parameters...)
		for i, want := range []string{"db.internal", "v2", "v3"} {
			if aws.ToString(all[i].Value) != want || all[i].Version != int64(i+1) || aws.ToString(all[i].Description) != "the database" {
				t.Fatalf("history[%d] %+v", i, all[i])
			}
		}
	})

	t.Run("get-parameters answers the found ones and lists the others as invalid", func(t *testing.T) {
		out, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/app/db/host", "/nope", "/app/db/host:9"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Parameters) != 1 || aws.ToString(out.Parameters[0].Value) != "v3" || strings.Join(out.InvalidParameters, ",") != "/nope,/app/db/host:9" {
			t.Fatalf("get-parameters %+v", out)
		}
	})

	t.Run("by path answers one level, or every level with Recursive, in pages of at most 10", func(t *testing.T) {
		for i := 0; i < 12; i++ {
			put(t, c, &ssm.PutParameterInput{Name: aws.String("/many/p" + string(rune('a'+i))), Value: aws.String("x"), Type: types.ParameterTypeString})
		}
		put(t, c, &ssm.PutParameterInput{Name: aws.String("/many/deeper/q"), Value: aws.String("x"), Type: types.ParameterTypeString})
		names := func(recursive bool) []string {
			var got []string
			p := ssm.NewGetParametersByPathPaginator(c, &ssm.GetParametersByPathInput{Path: aws.String("/many"), Recursive: aws.Bool(recursive)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Parameters) > 10 {
					t.Fatalf("a page of %d", len(page.Parameters))
				}
				for _, q := range page.Parameters {
					got = append(got, aws.ToString(q.Name))
				}
			}
			return got
		}
		if got := names(false); len(got) != 12 {
			t.Fatalf("one level: %v", got)
		}
		if got := names(true); len(got) != 13 || !contains(got, "/many/deeper/q") {
			t.Fatalf("recursive: %v", got)
		}
		out, err := c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/app/"), Recursive: aws.Bool(true), WithDecryption: aws.Bool(true)})
		if err != nil || len(out.Parameters) != 2 || aws.ToString(out.Parameters[1].Value) != "hunter2" {
			t.Fatalf("/app/ recursive: %+v, %v", out, err)
		}
	})

	t.Run("describe pages through every parameter and filters by type", func(t *testing.T) {
		var n int
		p := ssm.NewDescribeParametersPaginator(c, &ssm.DescribeParametersInput{MaxResults: aws.Int32(5)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Parameters)
		}
		if n != 16 {
			t.Fatalf("described %d parameters, want 16", n)
		}
		d, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []types.ParameterStringFilter{{Key: aws.String("Type"), Values: []string{"SecureString"}}}})
		if err != nil || len(d.Parameters) != 1 || aws.ToString(d.Parameters[0].Name) != "/app/db/password" {
			t.Fatalf("SecureStrings: %+v, %v", d, err)
		}
	})

	t.Run("delete removes a parameter and every version; delete-parameters reports the missing", func(t *testing.T) {
		if _, err := c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/app/db/host")}); err != nil {
			t.Fatal(err)
		}
		_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/db/host")})
		wantError(t, err, "ParameterNotFound", "")
		out, err := c.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: []string{"/many/pa", "/many/pb", "/gone"}})
		if err != nil || strings.Join(out.DeletedParameters, ",") != "/many/pa,/many/pb" || strings.Join(out.InvalidParameters, ",") != "/gone" {
			t.Fatalf("delete-parameters %+v, %v", out, err)
		}
		// A new parameter of a deleted name starts again at version 1.
		if v := put(t, c, &ssm.PutParameterInput{Name: aws.String("/app/db/host"), Value: aws.String("again"), Type: types.ParameterTypeString}).Version; v != 1 {
			t.Fatalf("version %d after delete", v)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestGetParametersTakeTheParametersARNs(t *testing.T) {
	srv := berthtest.Start(t)
	c := srv.SSMClient()
	arn := "arn:aws:ssm:us-east-1:" + auth.DefaultAccountID + ":parameter/"
	put(t, c, &ssm.PutParameterInput{Name: aws.String("/svc/db/password"), Value: aws.String("p1"), Type: types.ParameterTypeSecureString})
	put(t, c, &ssm.PutParameterInput{Name: aws.String("flat"), Value: aws.String("f1"), Type: types.ParameterTypeString})
	put(t, c, &ssm.PutParameterInput{Name: aws.String("flat"), Value: aws.String("f2"), Overwrite: aws.Bool(true)})

	if p := get(t, c, arn+"svc/db/password", true); aws.ToString(p.Value) != "p1" || aws.ToString(p.Name) != "/svc/db/password" {
		t.Fatalf("by ARN: %+v", p)
	}
	if p := get(t, c, arn+"flat:1", false); aws.ToString(p.Value) != "f1" || aws.ToString(p.Name) != "flat" {
		t.Fatalf("by ARN with a version: %+v", p)
	}
	out, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{arn + "flat", "arn:aws:ssm:eu-west-1:" + auth.DefaultAccountID + ":parameter/flat"}})
	if err != nil || len(out.Parameters) != 1 || aws.ToString(out.Parameters[0].Value) != "f2" || len(out.InvalidParameters) != 1 {
		t.Fatalf("get-parameters by ARN: %+v, %v", out, err)
	}
}
