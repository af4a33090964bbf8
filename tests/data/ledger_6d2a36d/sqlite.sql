BEGIN TRANSACTION;
CREATE TABLE audit_events (
	seq INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	subject_type VARCHAR(32) NOT NULL, 
	subject_id VARCHAR(200) NOT NULL, 
	payload JSON NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (seq)
);
INSERT INTO "audit_events" VALUES(1,'2026-12-02 03:40:23.083629','api','ticket.created','ticket','759d8ba5a6a2496d9107b3993832d3b0','{"argilla_dataset": "corrections", "kind": "review", "model_version": "smollm2@1", "request": {"draft": "possible pneumonia", "prompt": "dictation"}, "task": "clinical-note"}','0000000000000000000000000000000000000000000000000000000000000000','bdf2d70de8b0f50a25c551e0f92929acd5268ad225032b4e6f3dd5193c135663');
INSERT INTO "audit_events" VALUES(2,'2026-12-02 03:40:23.103689','api','ticket.created','ticket','79d21fa816e34a58b44a603625bb26e0','{"argilla_dataset": "approvals", "kind": "approval", "model_version": null, "request": {"prompt": "second"}, "task": "clinical-note"}','bdf2d70de8b0f50a25c551e0f92929acd5268ad225032b4e6f3dd5193c135663','285e0fbdb61a2a58fcc0d4d41ae7aff6b1c27b4f6b5a9d6d35dcc99bf1835484');
INSERT INTO "audit_events" VALUES(3,'2026-12-02 03:40:23.123872','outbox','ticket.delivered','ticket','759d8ba5a6a2496d9107b3993832d3b0','{"argilla_dataset": "corrections", "argilla_record_id": "rec-1"}','285e0fbdb61a2a58fcc0d4d41ae7aff6b1c27b4f6b5a9d6d35dcc99bf1835484','dd5a5795eb138480fd141c74261b6b2cd37375660e56ccc6ea80dec86085e5ea');
INSERT INTO "audit_events" VALUES(4,'2026-12-02 03:40:23.149738','dr-ng','feedback.ingested','feedback','e3c9acfaa96c072be60f7005fcf9b86d','{"argilla_dataset": "corrections", "model_version": "smollm2@1", "record_id": "rec-1", "response_id": "resp-1", "status": "submitted", "submitted_at": "2025-03-04T09:00:00+00:00", "ticket_id": "759d8ba5a6a2496d9107b3993832d3b0", "user_id": "u-1", "username": "dr-ng", "values": {"corrected": "pneumonia, pending culture", "verdict": "edit"}}','dd5a5795eb138480fd141c74261b6b2cd37375660e56ccc6ea80dec86085e5ea','e3cb908dce94e2dde756815ec0df4205676986bd4a6bd31589cc972cff41ac6d');
INSERT INTO "audit_events" VALUES(5,'2026-12-02 03:40:23.160008','dr-ng','example.added','example','358e48b3d8a45eacfe378d77c0278c62','{"domain": null, "feedback_id": "e3c9acfaa96c072be60f7005fcf9b86d", "input": "dictation", "kind": "correction", "model_version": null, "output": "pneumonia, pending culture", "provenance": {"record": "rec-1"}, "quality": null, "reason": null, "task": "clinical-note"}','e3cb908dce94e2dde756815ec0df4205676986bd4a6bd31589cc972cff41ac6d','5a5a2087b7ca45d4faad252cecff849f63cc515c98ae6bc67bcb85fcb321b5c8');
INSERT INTO "audit_events" VALUES(6,'2026-12-02 03:40:23.179458','dr-ng','pair.added','pair','c199cf2148e81cf04d83ac789c0606cc','{"agreement": null, "annotator": "dr-ng", "chosen": "pneumonia, pending culture", "feedback_id": "e3c9acfaa96c072be60f7005fcf9b86d", "prompt": "dictation", "provenance": {}, "rejected": "possible pneumonia", "task": "clinical-note"}','5a5a2087b7ca45d4faad252cecff849f63cc515c98ae6bc67bcb85fcb321b5c8','41ba7d1a6d5aae7426b7067ee7743b8feb6827914b47e55c39cbe9d5dbb9605d');
INSERT INTO "audit_events" VALUES(7,'2026-12-02 03:40:23.196176','dr-ng','ticket.decided','ticket','759d8ba5a6a2496d9107b3993832d3b0','{"decided_at": "2026-12-02T03:40:23.193820+00:00", "decided_by": "dr-ng", "decision": {"verdict": "edit"}, "kind": "review", "model_version": "smollm2@1", "request": {"draft": "possible pneumonia", "prompt": "dictation"}, "task": "clinical-note"}','41ba7d1a6d5aae7426b7067ee7743b8feb6827914b47e55c39cbe9d5dbb9605d','569eea420cee940ab1e56cb9ac4e6d9ec371b4bf74731ae89a0aa2b2629c7f1b');
CREATE TABLE audit_head (
	id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "audit_head" VALUES(1,7,'569eea420cee940ab1e56cb9ac4e6d9ec371b4bf74731ae89a0aa2b2629c7f1b');
CREATE TABLE example_store_writes (
	example_id VARCHAR(64) NOT NULL, 
	queued_at DATETIME NOT NULL, 
	PRIMARY KEY (example_id)
);
INSERT INTO "example_store_writes" VALUES('358e48b3d8a45eacfe378d77c0278c62','2026-12-02 03:40:23.169859');
CREATE TABLE examples (
	id VARCHAR(32) NOT NULL, 
	feedback_id VARCHAR(32), 
	task VARCHAR(200) NOT NULL, 
	domain VARCHAR(200), 
	kind VARCHAR(16) NOT NULL, 
	input TEXT NOT NULL, 
	output TEXT NOT NULL, 
	reason TEXT, 
	quality FLOAT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	model_version VARCHAR(200), 
	provenance JSON NOT NULL, 
	withdrawn_at DATETIME, 
	withdrawn_reason TEXT, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_kind_allowed CHECK (kind IN ('correction', 'accepted', 'lesson', 'resolution', 'knowledge')), 
	FOREIGN KEY(feedback_id) REFERENCES feedback_items (id)
);
INSERT INTO "examples" VALUES('358e48b3d8a45eacfe378d77c0278c62','e3c9acfaa96c072be60f7005fcf9b86d','clinical-note',NULL,'correction','dictation','pneumonia, pending culture',NULL,NULL,'2026-12-02 03:40:23.152068','2026-12-02 03:40:23.152068',NULL,'{"record": "rec-1"}',NULL,NULL);
CREATE TABLE feedback_items (
	id VARCHAR(32) NOT NULL, 
	ticket_id VARCHAR(32), 
	argilla_dataset VARCHAR(200) NOT NULL, 
	record_id VARCHAR(64) NOT NULL, 
	response_id VARCHAR(64), 
	user_id VARCHAR(64) NOT NULL, 
	username VARCHAR(200), 
	status VARCHAR(32) NOT NULL, 
	"values" JSON NOT NULL, 
	submitted_at DATETIME, 
	model_version VARCHAR(200), 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);
INSERT INTO "feedback_items" VALUES('e3c9acfaa96c072be60f7005fcf9b86d','759d8ba5a6a2496d9107b3993832d3b0','corrections','rec-1','resp-1','u-1','dr-ng','submitted','{"corrected": "pneumonia, pending culture", "verdict": "edit"}','2025-03-04 09:00:00.000000','smollm2@1','2026-12-02 03:40:23.137082');
CREATE TABLE ledger_meta (
	"key" VARCHAR(64) NOT NULL, 
	value VARCHAR(256) NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "ledger_meta" VALUES('schema_version','1');
INSERT INTO "ledger_meta" VALUES('audit_keyed_from','1');
INSERT INTO "ledger_meta" VALUES('audit_key_id','1f26c7de55e39e1b');
CREATE TABLE outbox (
	id VARCHAR(32) NOT NULL, 
	ticket_id VARCHAR(32) NOT NULL, 
	payload JSON NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error TEXT, 
	next_attempt_at DATETIME NOT NULL, 
	delivered_at DATETIME, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(ticket_id) REFERENCES tickets (id)
);
INSERT INTO "outbox" VALUES('5ecf0915ba7842b0900d86d3800e185c','759d8ba5a6a2496d9107b3993832d3b0','{"fields": {"prompt": "dictation"}}',0,NULL,'2026-12-02 03:40:23.073013','2026-12-02 03:40:23.115486','2026-12-02 03:40:23.073013');
INSERT INTO "outbox" VALUES('783ca9806be14982bf415262eb71feeb','79d21fa816e34a58b44a603625bb26e0','{"fields": {}}',0,NULL,'2026-12-02 03:40:23.100965',NULL,'2026-12-02 03:40:23.100965');
CREATE TABLE preference_pairs (
	id VARCHAR(32) NOT NULL, 
	feedback_id VARCHAR(32), 
	task VARCHAR(200) NOT NULL, 
	prompt TEXT NOT NULL, 
	chosen TEXT NOT NULL, 
	rejected TEXT NOT NULL, 
	annotator VARCHAR(200), 
	agreement FLOAT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	provenance JSON NOT NULL, 
	withdrawn_at DATETIME, 
	withdrawn_reason TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(feedback_id) REFERENCES feedback_items (id)
);
INSERT INTO "preference_pairs" VALUES('c199cf2148e81cf04d83ac789c0606cc','e3c9acfaa96c072be60f7005fcf9b86d','clinical-note','dictation','pneumonia, pending culture','possible pneumonia','dr-ng',NULL,'2026-12-02 03:40:23.177459','2026-12-02 03:40:23.177459','{}',NULL,NULL);
CREATE TABLE sync_cursors (
	name VARCHAR(200) NOT NULL, 
	value TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO "sync_cursors" VALUES('responses:corrections','2025-03-04T09:00:00+00:00','2026-12-02 03:40:23.210402');
CREATE TABLE tickets (
	id VARCHAR(32) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	task VARCHAR(200) NOT NULL, 
	request JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	argilla_dataset VARCHAR(200) NOT NULL, 
	argilla_record_id VARCHAR(64), 
	decision JSON, 
	decided_by VARCHAR(200), 
	decided_at DATETIME, 
	created_at DATETIME NOT NULL, 
	model_version VARCHAR(200), 
	PRIMARY KEY (id), 
	CONSTRAINT ck_kind_allowed CHECK (kind IN ('review', 'approval', 'escalation', 'preference')), 
	CONSTRAINT ck_status_allowed CHECK (status IN ('queued', 'open', 'decided', 'failed'))
);
INSERT INTO "tickets" VALUES('759d8ba5a6a2496d9107b3993832d3b0','review','clinical-note','{"draft": "possible pneumonia", "prompt": "dictation"}','decided','corrections','rec-1','{"verdict": "edit"}','dr-ng','2026-12-02 03:40:23.193820','2026-12-02 03:40:23.073013','smollm2@1');
INSERT INTO "tickets" VALUES('79d21fa816e34a58b44a603625bb26e0','approval','clinical-note','{"prompt": "second"}','queued','approvals',NULL,NULL,NULL,NULL,'2026-12-02 03:40:23.100965',NULL);
CREATE INDEX ix_tickets_record ON tickets (argilla_dataset, argilla_record_id);
CREATE INDEX ix_tickets_status ON tickets (status);
CREATE INDEX ix_outbox_pending ON outbox (delivered_at, next_attempt_at);
CREATE INDEX ix_feedback_record ON feedback_items (argilla_dataset, record_id);
CREATE INDEX ix_examples_feedback ON examples (feedback_id);
CREATE INDEX ix_examples_updated ON examples (updated_at);
CREATE INDEX ix_pairs_feedback ON preference_pairs (feedback_id);
CREATE INDEX ix_pairs_task ON preference_pairs (task);
CREATE INDEX ix_pairs_updated ON preference_pairs (updated_at);
COMMIT;
