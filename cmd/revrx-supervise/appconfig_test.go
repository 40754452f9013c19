package main

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
)

// baseConfig is what contextToConfig gives for the flags' defaults, with
// the given flags marked as set explicitly.
func baseConfig(explicit ...string) config {
	cfg := config{
		Broker:  broker.Config{URL: "redis://localhost:6379/0", PrioritySteps: []int{0, 3, 6, 9}},
		Pool:    pool.Config{Queues: []string{"celery"}},
		Secrets: newSecretSet(),
		Sources: map[string]string{},
	}
	for _, f := range explicit {
		cfg.Sources[f] = "flag"
	}
	return cfg
}

func settingOf(settings []supervisor.Setting, name string) supervisor.Setting {
	for _, s := range settings {
		if s.Name == name {
			return s
		}
	}
	return supervisor.Setting{}
}

func TestApplyApp(t *testing.T) {
	app := &pool.AppConfig{
		BrokerURL: "redis://:pw@cache:6380/2", KeyPrefix: "pfx:", PrioritySteps: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		Sep: ":", DefaultQueue: "work", AcksLate: true, VisibilityTimeout: 7200,
	}
	tests := []struct {
		name     string
		cfg      config
		app      *pool.AppConfig
		extra    []string
		check    func(t *testing.T, cfg config, s []supervisor.Setting)
		warnings int
	}{{
		name: "the app's settings are the defaults",
		cfg:  baseConfig(), app: app,
		check: func(t *testing.T, cfg config, s []supervisor.Setting) {
			b := cfg.Broker
			if b.URL != app.BrokerURL || b.KeyPrefix != "pfx:" || b.Separator != ":" || len(b.PrioritySteps) != 10 {
				t.Errorf("broker config = %+v, want the app's", b)
			}
			if !slices.Equal(cfg.Pool.Queues, []string{"work"}) || !slices.Equal(cfg.Supervisor.Queues, []string{"work"}) {
				t.Errorf("queues = %v / %v, want [work]", cfg.Pool.Queues, cfg.Supervisor.Queues)
			}
			if cfg.Pool.PrefetchMultiplier != 2 || !strings.HasPrefix(settingOf(s, "worker_prefetch_multiplier").Source, "auto") {
				t.Errorf("prefetch %d (%+v), want 2 from auto", cfg.Pool.PrefetchMultiplier, settingOf(s, "worker_prefetch_multiplier"))
			}
			if got := settingOf(s, "broker_url"); got.Value != "redis://:***@cache:6380/2" || got.Source != "app" {
				t.Errorf("broker_url setting %+v, want redacted, from app", got)
			}
			if got := cfg.Secrets.scrub("x pw y"); got != "x **** y" {
				t.Errorf("the app's password is not scrubbed: %q", got)
			}
		},
	}, {
		name: "flags win, and a conflict is logged",
		cfg: func() config {
			c := baseConfig(flagBroker, flagKeyPrefix, flagQueues)
			c.Broker.URL, c.Broker.KeyPrefix, c.Pool.Queues = "redis://other:6379/0", "mine:", []string{"reports"}
			return c
		}(),
		app: app, warnings: 2, // broker and prefix; -Q is a choice, not a conflict
		check: func(t *testing.T, cfg config, s []supervisor.Setting) {
			if cfg.Broker.URL != "redis://other:6379/0" || cfg.Broker.KeyPrefix != "mine:" {
				t.Errorf("broker config = %+v, want the flags'", cfg.Broker)
			}
			if got := settingOf(s, "queues"); got.Value != "reports" || got.Source != "flag" {
				t.Errorf("queues setting %+v, want reports from flag", got)
			}
			if cfg.Broker.Separator != ":" {
				t.Errorf("sep %q, want the app's \":\" (no flag given)", cfg.Broker.Separator)
			}
		},
	}, {
		name: "worker arguments set the prefetch",
		cfg:  baseConfig(), app: app, extra: []string{"--prefetch-multiplier", "4"},
		check: func(t *testing.T, cfg config, s []supervisor.Setting) {
			if got := settingOf(s, "worker_prefetch_multiplier"); got.Value != "4" || !strings.Contains(got.Source, "after --") {
				t.Errorf("prefetch setting %+v, want 4 from the worker arguments", got)
			}
		},
	}, {
		name: "unknown app: flags and defaults",
		cfg:  baseConfig(), app: nil,
		check: func(t *testing.T, cfg config, s []supervisor.Setting) {
			if cfg.Broker.URL != "redis://localhost:6379/0" || cfg.Pool.PrefetchMultiplier != 1 || cfg.Pool.Queues[0] != "celery" {
				t.Errorf("config = %+v %+v, want the defaults", cfg.Broker, cfg.Pool)
			}
			if got := settingOf(s, "broker_url"); got.Source != "default" {
				t.Errorf("broker_url setting %+v, want from default", got)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			tt.cfg.Pool.ExtraArgs = tt.extra
			cfg, settings, err := applyApp(tt.cfg, tt.app, log)
			if err != nil {
				t.Fatalf("applyApp = %v", err)
			}
			tt.check(t, cfg, settings)
			if n := strings.Count(logs.String(), "differs from the app's"); n != tt.warnings {
				t.Errorf("%d conflict warnings, want %d:\n%s", n, tt.warnings, logs.String())
			}
			if strings.Contains(logs.String(), ":pw@") {
				t.Errorf("a log line shows the password:\n%s", logs.String())
			}
		})
	}
}

func TestApplyAppTakesARabbitMQBrokerAndRejectsOthers(t *testing.T) {
	app := &pool.AppConfig{BrokerURL: "amqp://user:s3cret@rabbit//", DefaultQueue: "celery"}
	cfg, settings, err := applyApp(baseConfig(), app, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("applyApp(amqp app) = %v, want it taken", err)
	}
	if cfg.Broker.URL != app.BrokerURL || strings.Contains(cfg.Supervisor.BrokerURL, "s3cret") {
		t.Errorf("broker %q, shown as %q: want the app's, redacted", cfg.Broker.URL, cfg.Supervisor.BrokerURL)
	}
	if got := cfg.Secrets.scrub("login s3cret"); strings.Contains(got, "s3cret") {
		t.Errorf("the app's AMQP password is not a secret: %q", got)
	}
	for _, st := range settings {
		if strings.Contains(st.Value, "s3cret") {
			t.Errorf("setting %s shows the password: %q", st.Name, st.Value)
		}
	}
	app.BrokerURL = "sqs://key:s3cret@"
	_, _, err = applyApp(baseConfig(), app, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "amqp://") || !strings.Contains(err.Error(), "redis://") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("applyApp(sqs app) = %v, want an error naming the accepted forms, without the password", err)
	}
}
