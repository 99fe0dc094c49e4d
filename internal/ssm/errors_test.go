package ssm_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/berthtest"
	internalssm "github.com/berth-project/berth/internal/ssm"
)

func TestEveryExceptionAndNothingStoredByARefusedPut(t *testing.T) {
	defer internalssm.SetParameterLimit(3)()
	srv := berthtest.Start(t)
	c := srv.SSMClient()
	put(t, c, &ssm.PutParameterInput{Name: aws.String("/exists"), Value: aws.String("v"), Type: types.ParameterTypeString})

	deep := strings.Repeat("/l", 16)
	cases := []struct {
		name         string
		in           *ssm.PutParameterInput
		code, prefix string
	}{
		{"an existing name without overwrite", &ssm.PutParameterInput{Name: aws.String("/exists"), Value: aws.String("w"), Type: types.ParameterTypeString},
			"ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true."},
		{"a space in the name", &ssm.PutParameterInput{Name: aws.String("/my param"), Value: aws.String("v"), Type: types.ParameterTypeString}, "ValidationException", "Parameter name: can't be prefixed with"},
		{"an aws prefix", &ssm.PutParameterInput{Name: aws.String("/AWS/x"), Value: aws.String("v"), Type: types.ParameterTypeString}, "ValidationException", "Parameter name: can't be prefixed with"},
		{"an ssm prefix", &ssm.PutParameterInput{Name: aws.String("ssmthing"), Value: aws.String("v"), Type: types.ParameterTypeString}, "ValidationException", "Parameter name: can't be prefixed with"},
		{"a path without its leading slash", &ssm.PutParameterInput{Name: aws.String("a/b"), Value: aws.String("v"), Type: types.ParameterTypeString}, "ValidationException", "Parameter name: can't be prefixed with"},
		{"a name of 2049 characters", &ssm.PutParameterInput{Name: aws.String("/" + strings.Repeat("n", 2048)), Value: aws.String("v"), Type: types.ParameterTypeString}, "ValidationException", "1 validation error detected"},
		{"16 levels", &ssm.PutParameterInput{Name: aws.String(deep), Value: aws.String("v"), Type: types.ParameterTypeString}, "HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of 15 levels."},
		{"an empty value", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String(""), Type: types.ParameterTypeString}, "ValidationException", "1 validation error detected: Value '' at 'value'"},
		{"a KeyId the model's pattern refuses", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String("v"), Type: types.ParameterTypeSecureString, KeyId: aws.String("bad key!")},
			"ValidationException", "1 validation error detected: Value 'bad key!' at 'keyId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-zA-Z0-9:/_-]+)$"},
		{"no type on creation", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String("v")}, "ValidationException", "A parameter type is required when you create a parameter."},
		{"a Standard value over 4096 characters", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String(strings.Repeat("v", 4097)), Type: types.ParameterTypeString},
			"ValidationException", "Standard tier parameters support a maximum parameter value of 4096 characters."},
		{"an Advanced value over 8192 characters", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String(strings.Repeat("v", 8193)), Type: types.ParameterTypeString, Tier: types.ParameterTierAdvanced},
			"ValidationException", "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to 8192"},
		{"a KeyId on a String", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String("v"), Type: types.ParameterTypeString, KeyId: aws.String("alias/aws/ssm")}, "ValidationException", "KeyId is required for SecureString type parameter only."},
		{"a KMS key Berth does not have", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String("v"), Type: types.ParameterTypeSecureString, KeyId: aws.String("alias/mine")}, "InvalidKeyId", "Invalid KeyId alias/mine"},
		{"a value the allowed pattern refuses", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String("abc"), Type: types.ParameterTypeString, AllowedPattern: aws.String("[0-9]+")},
			"ParameterPatternMismatchException", "Parameter value, cannot be validated against allowedPattern: [0-9]+"},
		{"an allowed pattern that is no regular expression", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String("1"), Type: types.ParameterTypeString, AllowedPattern: aws.String("[0-9")},
			"InvalidAllowedPatternException", "The parameter value doesn't meet the regular expression requirement"},
		{"a policy", &ssm.PutParameterInput{Name: aws.String("/new"), Value: aws.String("v"), Type: types.ParameterTypeString, Policies: aws.String(`[{"Type":"Expiration"}]`)}, "ValidationException", "Parameter policies are not supported by Berth."},
		{"tags with overwrite", &ssm.PutParameterInput{Name: aws.String("/exists"), Value: aws.String("v"), Overwrite: aws.Bool(true), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}},
			"ValidationException", "Invalid request: tags and overwrite can't be used together."},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused with "+tc.code, func(t *testing.T) {
			_, err := c.PutParameter(ctx, tc.in)
			wantError(t, err, tc.code, tc.prefix)
		})
	}
	t.Run("and none of them stored anything", func(t *testing.T) {
		d, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{})
		if err != nil || len(d.Parameters) != 1 || aws.ToString(d.Parameters[0].Name) != "/exists" || aws.ToInt64(&d.Parameters[0].Version) != 1 {
			t.Fatalf("stored after refusals: %+v, %v", d, err)
		}
	})

	t.Run("an overwrite keeps the allowed pattern, which then holds the new value", func(t *testing.T) {
		put(t, c, &ssm.PutParameterInput{Name: aws.String("/digits"), Value: aws.String("1"), Type: types.ParameterTypeString, AllowedPattern: aws.String("[0-9]+")})
		_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/digits"), Value: aws.String("x"), Overwrite: aws.Bool(true)})
		wantError(t, err, "ParameterPatternMismatchException", "Parameter value, cannot be validated against allowedPattern: [0-9]+")
		if p := get(t, c, "/digits", false); aws.ToString(p.Value) != "1" || p.Version != 1 {
			t.Fatalf("after a refused overwrite: %+v", p)
		}
	})

	t.Run("the account's parameter quota is ParameterLimitExceeded", func(t *testing.T) {
		put(t, c, &ssm.PutParameterInput{Name: aws.String("/three"), Value: aws.String("v"), Type: types.ParameterTypeString})
		_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/four"), Value: aws.String("v"), Type: types.ParameterTypeString})
		wantError(t, err, "ParameterLimitExceeded", "You have exceeded the number of parameters")
		// Overwriting an existing one still works at the quota.
		put(t, c, &ssm.PutParameterInput{Name: aws.String("/three"), Value: aws.String("w"), Overwrite: aws.Bool(true)})
	})

	t.Run("reads of what is not there", func(t *testing.T) {
		_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/missing")})
		wantError(t, err, "ParameterNotFound", "")
		_, err = c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/exists:7")})
		wantError(t, err, "ParameterVersionNotFound", "Systems Manager could not find version 7 of /exists.")
		_, err = c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String("/missing")})
		wantError(t, err, "ParameterNotFound", "Parameter /missing not found.")
		_, err = c.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String("/missing")})
		wantError(t, err, "ParameterNotFound", "Parameter /missing not found.")
		_, err = c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/"), MaxResults: aws.Int32(11)})
		wantError(t, err, "ValidationException", "1 validation error detected: Value '11' at 'maxResults'")
		_, err = c.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("no-slash")})
		wantError(t, err, "ValidationException", "The parameter doesn't meet the parameter name requirements.")
		_, err = c.DescribeParameters(ctx, &ssm.DescribeParametersInput{NextToken: aws.String("!!")})
		wantError(t, err, "InvalidNextToken", "The specified token isn't valid.")
		_, err = c.GetParameters(ctx, &ssm.GetParametersInput{Names: strings.Split("a b c d e f g h i j k", " ")})
		wantError(t, err, "ValidationException", "1 validation error detected")
	})

	t.Run("an SSM operation Berth does not serve names itself", func(t *testing.T) {
		_, err := c.ListDocuments(ctx, &ssm.ListDocumentsInput{})
		wantError(t, err, "UnsupportedOperationException", "ListDocuments is not implemented by Berth")
	})

	t.Run("an SSM call signed for the ecs service is refused", func(t *testing.T) {
		body := []byte(`{"Name":"/exists"}`)
		r, _ := http.NewRequest(http.MethodPost, srv.Endpoint()+"/", bytes.NewReader(body))
		r.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		sum := sha256Hex(body)
		creds := aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}
		if err := v4.NewSigner().SignHTTP(ctx, creds, r, sum, "ecs", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("x-amzn-ErrorType") != "InvalidSignatureException" {
			t.Fatalf("status %d, %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
		}
	})
}

func TestCreationsRacingAtTheQuotaNeverExceedIt(t *testing.T) {
	defer internalssm.SetParameterLimit(5)()
	srv := berthtest.Start(t)
	c := srv.SSMClient()
	const racers = 20
	errs := make(chan error, racers)
	for i := 0; i < racers; i++ {
		go func() {
			_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(fmt.Sprintf("/race/p%02d", i)), Value: aws.String("v"), Type: types.ParameterTypeString})
			errs <- err
		}()
	}
	created := 0
	for i := 0; i < racers; i++ {
		if err := <-errs; err == nil {
			created++
		} else {
			wantError(t, err, "ParameterLimitExceeded", "You have exceeded the number of parameters")
		}
	}
	d, err := c.DescribeParameters(ctx, &ssm.DescribeParametersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if created != 5 || len(d.Parameters) != 5 {
		t.Fatalf("%d creations succeeded and %d parameters are stored, want 5 and 5", created, len(d.Parameters))
	}
}
