package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/berthtest"
)

func TestAccountSettings(t *testing.T) {
	ctx := context.Background()
	srv := berthtest.Start(t)
	c := srv.Client()
	root := "arn:aws:iam::" + account + ":root"
	role := "arn:aws:iam::" + account + ":role/deployer"

	effective := func(t *testing.T, principal *string) map[string]types.Setting {
		t.Helper()
		out := map[string]types.Setting{}
		p := ecs.NewListAccountSettingsPaginator(c, &ecs.ListAccountSettingsInput{EffectiveSettings: true, PrincipalArn: principal, MaxResults: 4})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.Settings {
				out[string(s.Name)] = s
			}
		}
		return out
	}

	t.Run("effective settings start at ECS's defaults, one per setting, paged", func(t *testing.T) {
		eff := effective(t, nil)
		if len(eff) != len(types.SettingName("").Values()) {
			t.Fatalf("%d effective settings, the model has %d", len(eff), len(types.SettingName("").Values()))
		}
		if v := aws.ToString(eff["taskLongArnFormat"].Value); v != "enabled" || eff["taskLongArnFormat"].Type != types.SettingTypeAwsManaged {
			t.Fatalf("taskLongArnFormat %+v", eff["taskLongArnFormat"])
		}
		if v := aws.ToString(eff["containerInsights"].Value); v != "disabled" {
			t.Fatalf("containerInsights %q", v)
		}
	})

	t.Run("the account default applies to every principal until one overrides it", func(t *testing.T) {
		out, err := c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: types.SettingNameContainerInsights, Value: aws.String("enhanced")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Setting.PrincipalArn) != root || out.Setting.Type != types.SettingTypeUser {
			t.Fatalf("default setting %+v", out.Setting)
		}
		if v := aws.ToString(effective(t, aws.String(role))["containerInsights"].Value); v != "enhanced" {
			t.Fatalf("role sees %q, want the account default", v)
		}
		cl, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("insightful")})
		if err != nil {
			t.Fatal(err)
		}
		if v := aws.ToString(cl.Cluster.Settings[0].Value); v != "enhanced" {
			t.Fatalf("a new cluster's containerInsights is %q, want the account setting", v)
		}
		if _, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: types.SettingNameContainerInsights, Value: aws.String("disabled"), PrincipalArn: aws.String(role)}); err != nil {
			t.Fatal(err)
		}
		if v := aws.ToString(effective(t, aws.String(role))["containerInsights"].Value); v != "disabled" {
			t.Fatalf("role's own setting not effective: %q", v)
		}
		if v := aws.ToString(effective(t, nil)["containerInsights"].Value); v != "enhanced" {
			t.Fatalf("root's effective setting changed by the role's: %q", v)
		}
		own, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{PrincipalArn: aws.String(role)})
		if err != nil || len(own.Settings) != 1 {
			t.Fatalf("the role's explicit settings: %+v %v", own, err)
		}
		filtered, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{Name: types.SettingNameContainerInsights, Value: aws.String("enhanced"), EffectiveSettings: true})
		if err != nil || len(filtered.Settings) != 1 {
			t.Fatalf("name+value filter: %+v %v", filtered, err)
		}
	})

	t.Run("DeleteAccountSetting returns to the default", func(t *testing.T) {
		out, err := c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: types.SettingNameContainerInsights, PrincipalArn: aws.String(role)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Setting.Value) != "disabled" {
			t.Fatalf("deleted %+v", out.Setting)
		}
		if v := aws.ToString(effective(t, aws.String(role))["containerInsights"].Value); v != "enhanced" {
			t.Fatalf("after delete the role sees %q", v)
		}
	})

	t.Run("bad input gets InvalidParameterException and changes nothing", func(t *testing.T) {
		_, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: types.SettingNameAwsvpcTrunking, Value: aws.String("yes")})
		wantAPIError(t, err, "InvalidParameterException", `Invalid value "yes" for account setting awsvpcTrunking. Valid values are: enabled, disabled.`)
		_, err = c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: types.SettingNameAwsvpcTrunking, Value: aws.String("enabled"), PrincipalArn: aws.String("arn:aws:iam::999999999999:root")})
		wantAPIError(t, err, "InvalidParameterException", "")
		_, err = c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: "noSuchSetting", Value: aws.String("enabled")})
		wantAPIError(t, err, "InvalidParameterException", "")
		_, err = c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: types.SettingNameAwsvpcTrunking})
		wantAPIError(t, err, "InvalidParameterException", "")
		if v := aws.ToString(effective(t, nil)["awsvpcTrunking"].Value); v != "disabled" {
			t.Fatalf("a refused call changed awsvpcTrunking to %q", v)
		}
	})

	t.Run("settings survive a restart", func(t *testing.T) {
		srv.Restart()
		c = srv.Client()
		if v := aws.ToString(effective(t, nil)["containerInsights"].Value); v != "enhanced" {
			t.Fatalf("after restart containerInsights is %q", v)
		}
	})
}
