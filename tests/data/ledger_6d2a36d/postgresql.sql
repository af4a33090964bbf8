--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audit_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_events (
    seq integer NOT NULL,
    at timestamp with time zone NOT NULL,
    actor character varying(200) NOT NULL,
    action character varying(64) NOT NULL,
    subject_type character varying(32) NOT NULL,
    subject_id character varying(200) NOT NULL,
    payload json NOT NULL,
    prev_hash character varying(64) NOT NULL,
    hash character varying(64) NOT NULL
);


--
-- Name: audit_head; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_head (
    id integer NOT NULL,
    seq integer NOT NULL,
    hash character varying(64) NOT NULL
);


--
-- Name: example_store_writes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.example_store_writes (
    example_id character varying(64) NOT NULL,
    queued_at timestamp with time zone NOT NULL
);


--
-- Name: examples; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.examples (
    id character varying(32) NOT NULL,
    feedback_id character varying(32),
    task character varying(200) NOT NULL,
    domain character varying(200),
    kind character varying(16) NOT NULL,
    input text NOT NULL,
    output text NOT NULL,
    reason text,
    quality double precision,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    model_version character varying(200),
    provenance json NOT NULL,
    withdrawn_at timestamp with time zone,
    withdrawn_reason text,
    CONSTRAINT ck_kind_allowed CHECK (((kind)::text = ANY ((ARRAY['correction'::character varying, 'accepted'::character varying, 'lesson'::character varying, 'resolution'::character varying, 'knowledge'::character varying])::text[])))
);


--
-- Name: feedback_items; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.feedback_items (
    id character varying(32) NOT NULL,
    ticket_id character varying(32),
    argilla_dataset character varying(200) NOT NULL,
    record_id character varying(64) NOT NULL,
    response_id character varying(64),
    user_id character varying(64) NOT NULL,
    username character varying(200),
    status character varying(32) NOT NULL,
    "values" json NOT NULL,
    submitted_at timestamp with time zone,
    model_version character varying(200),
    ingested_at timestamp with time zone NOT NULL
);


--
-- Name: ledger_meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ledger_meta (
    key character varying(64) NOT NULL,
    value character varying(256) NOT NULL
);


--
-- Name: outbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.outbox (
    id character varying(32) NOT NULL,
    ticket_id character varying(32) NOT NULL,
    payload json NOT NULL,
    attempts integer NOT NULL,
    last_error text,
    next_attempt_at timestamp with time zone NOT NULL,
    delivered_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: preference_pairs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.preference_pairs (
    id character varying(32) NOT NULL,
    feedback_id character varying(32),
    task character varying(200) NOT NULL,
    prompt text NOT NULL,
    chosen text NOT NULL,
    rejected text NOT NULL,
    annotator character varying(200),
    agreement double precision,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    provenance json NOT NULL,
    withdrawn_at timestamp with time zone,
    withdrawn_reason text
);


--
-- Name: sync_cursors; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sync_cursors (
    name character varying(200) NOT NULL,
    value text NOT NULL,
    updated_at timestamp with time zone NOT NULL
);


--
-- Name: tickets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tickets (
    id character varying(32) NOT NULL,
    kind character varying(16) NOT NULL,
    task character varying(200) NOT NULL,
    request json NOT NULL,
    status character varying(16) NOT NULL,
    argilla_dataset character varying(200) NOT NULL,
    argilla_record_id character varying(64),
    decision json,
    decided_by character varying(200),
    decided_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    model_version character varying(200),
    CONSTRAINT ck_kind_allowed CHECK (((kind)::text = ANY ((ARRAY['review'::character varying, 'approval'::character varying, 'escalation'::character varying, 'preference'::character varying])::text[]))),
    CONSTRAINT ck_status_allowed CHECK (((status)::text = ANY ((ARRAY['queued'::character varying, 'open'::character varying, 'decided'::character varying, 'failed'::character varying])::text[])))
);


--
-- Data for Name: audit_events; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit_events VALUES (1, '2026-12-02 03:40:27.170849+00', 'api', 'ticket.created', 'ticket', 'f7cfb26df2ac4339bb0222c242b083ce', '{"argilla_dataset": "corrections", "kind": "review", "model_version": "smollm2@1", "request": {"draft": "possible pneumonia", "prompt": "dictation"}, "task": "clinical-note"}', '0000000000000000000000000000000000000000000000000000000000000000', 'a2e26cf9690ffea4c2a6212318809ac1e5bfbcfc05fae05a8e760455028b3e13');
INSERT INTO public.audit_events VALUES (2, '2026-12-02 03:40:27.203409+00', 'api', 'ticket.created', 'ticket', '7c6926af06754f04a607bddd2a482b61', '{"argilla_dataset": "approvals", "kind": "approval", "model_version": null, "request": {"prompt": "second"}, "task": "clinical-note"}', 'a2e26cf9690ffea4c2a6212318809ac1e5bfbcfc05fae05a8e760455028b3e13', 'f5526de29079cb43f7ae21daf487c152a74862e8947b9ad447d273c066b8c46a');
INSERT INTO public.audit_events VALUES (3, '2026-12-02 03:40:27.243155+00', 'outbox', 'ticket.delivered', 'ticket', 'f7cfb26df2ac4339bb0222c242b083ce', '{"argilla_dataset": "corrections", "argilla_record_id": "rec-1"}', 'f5526de29079cb43f7ae21daf487c152a74862e8947b9ad447d273c066b8c46a', '7ade7eed3aea8bceb4795740f6734803d58ba79c5a1909bf9e54561b848f1266');
INSERT INTO public.audit_events VALUES (4, '2026-12-02 03:40:27.268116+00', 'dr-ng', 'feedback.ingested', 'feedback', 'e3c9acfaa96c072be60f7005fcf9b86d', '{"argilla_dataset": "corrections", "model_version": "smollm2@1", "record_id": "rec-1", "response_id": "resp-1", "status": "submitted", "submitted_at": "2025-03-04T09:00:00+00:00", "ticket_id": "f7cfb26df2ac4339bb0222c242b083ce", "user_id": "u-1", "username": "dr-ng", "values": {"corrected": "pneumonia, pending culture", "verdict": "edit"}}', '7ade7eed3aea8bceb4795740f6734803d58ba79c5a1909bf9e54561b848f1266', '6521c24db0e323c1ec78e9476592680561083d2d505d7b536c0846d53f9c6c5a');
INSERT INTO public.audit_events VALUES (5, '2026-12-02 03:40:27.301132+00', 'dr-ng', 'example.added', 'example', '358e48b3d8a45eacfe378d77c0278c62', '{"domain": null, "feedback_id": "e3c9acfaa96c072be60f7005fcf9b86d", "input": "dictation", "kind": "correction", "model_version": null, "output": "pneumonia, pending culture", "provenance": {"record": "rec-1"}, "quality": null, "reason": null, "task": "clinical-note"}', '6521c24db0e323c1ec78e9476592680561083d2d505d7b536c0846d53f9c6c5a', '56d57a6ff68c0ec56328db8333e4a48897f6805ac68ace32e7ab918d807cd601');
INSERT INTO public.audit_events VALUES (6, '2026-12-02 03:40:27.337127+00', 'dr-ng', 'pair.added', 'pair', 'c199cf2148e81cf04d83ac789c0606cc', '{"agreement": null, "annotator": "dr-ng", "chosen": "pneumonia, pending culture", "feedback_id": "e3c9acfaa96c072be60f7005fcf9b86d", "prompt": "dictation", "provenance": {}, "rejected": "possible pneumonia", "task": "clinical-note"}', '56d57a6ff68c0ec56328db8333e4a48897f6805ac68ace32e7ab918d807cd601', '19826d16e31b26f17b8821308c24b171dd6368a449432793cb3cf1d0efef4e64');
INSERT INTO public.audit_events VALUES (7, '2026-12-02 03:40:27.361979+00', 'dr-ng', 'ticket.decided', 'ticket', 'f7cfb26df2ac4339bb0222c242b083ce', '{"decided_at": "2026-12-02T03:40:27.351906+00:00", "decided_by": "dr-ng", "decision": {"verdict": "edit"}, "kind": "review", "model_version": "smollm2@1", "request": {"draft": "possible pneumonia", "prompt": "dictation"}, "task": "clinical-note"}', '19826d16e31b26f17b8821308c24b171dd6368a449432793cb3cf1d0efef4e64', 'cff91dfb49d2a99f214bb7a1aff57bb4c75bd2bf2bdaf837566fc7decec27720');


--
-- Data for Name: audit_head; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit_head VALUES (1, 7, 'cff91dfb49d2a99f214bb7a1aff57bb4c75bd2bf2bdaf837566fc7decec27720');


--
-- Data for Name: example_store_writes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.example_store_writes VALUES ('358e48b3d8a45eacfe378d77c0278c62', '2026-12-02 03:40:27.305094+00');


--
-- Data for Name: examples; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.examples VALUES ('358e48b3d8a45eacfe378d77c0278c62', 'e3c9acfaa96c072be60f7005fcf9b86d', 'clinical-note', NULL, 'correction', 'dictation', 'pneumonia, pending culture', NULL, NULL, '2026-12-02 03:40:27.281918+00', '2026-12-02 03:40:27.281918+00', NULL, '{"record": "rec-1"}', NULL, NULL);


--
-- Data for Name: feedback_items; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.feedback_items VALUES ('e3c9acfaa96c072be60f7005fcf9b86d', 'f7cfb26df2ac4339bb0222c242b083ce', 'corrections', 'rec-1', 'resp-1', 'u-1', 'dr-ng', 'submitted', '{"corrected": "pneumonia, pending culture", "verdict": "edit"}', '2025-03-04 09:00:00+00', 'smollm2@1', '2026-12-02 03:40:27.250334+00');


--
-- Data for Name: ledger_meta; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.ledger_meta VALUES ('schema_version', '1');
INSERT INTO public.ledger_meta VALUES ('audit_keyed_from', '1');
INSERT INTO public.ledger_meta VALUES ('audit_key_id', '1f26c7de55e39e1b');


--
-- Data for Name: outbox; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.outbox VALUES ('024c1106f70f4e1abffc7fc0241e89b1', '7c6926af06754f04a607bddd2a482b61', '{"fields": {}}', 0, NULL, '2026-12-02 03:40:27.182938+00', NULL, '2026-12-02 03:40:27.182938+00');
INSERT INTO public.outbox VALUES ('8e6c7357e92644faa3cfcf0de95c76a8', 'f7cfb26df2ac4339bb0222c242b083ce', '{"fields": {"prompt": "dictation"}}', 0, NULL, '2026-12-02 03:40:27.138244+00', '2026-12-02 03:40:27.222604+00', '2026-12-02 03:40:27.138244+00');


--
-- Data for Name: preference_pairs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.preference_pairs VALUES ('c199cf2148e81cf04d83ac789c0606cc', 'e3c9acfaa96c072be60f7005fcf9b86d', 'clinical-note', 'dictation', 'pneumonia, pending culture', 'possible pneumonia', 'dr-ng', NULL, '2026-12-02 03:40:27.321172+00', '2026-12-02 03:40:27.321172+00', '{}', NULL, NULL);


--
-- Data for Name: sync_cursors; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.sync_cursors VALUES ('responses:corrections', '2025-03-04T09:00:00+00:00', '2026-12-02 03:40:27.37778+00');


--
-- Data for Name: tickets; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.tickets VALUES ('7c6926af06754f04a607bddd2a482b61', 'approval', 'clinical-note', '{"prompt": "second"}', 'queued', 'approvals', NULL, NULL, NULL, NULL, '2026-12-02 03:40:27.182938+00', NULL);
INSERT INTO public.tickets VALUES ('f7cfb26df2ac4339bb0222c242b083ce', 'review', 'clinical-note', '{"draft": "possible pneumonia", "prompt": "dictation"}', 'decided', 'corrections', 'rec-1', '{"verdict": "edit"}', 'dr-ng', '2026-12-02 03:40:27.351906+00', '2026-12-02 03:40:27.138244+00', 'smollm2@1');


--
-- Name: audit_events audit_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_events
    ADD CONSTRAINT audit_events_pkey PRIMARY KEY (seq);


--
-- Name: audit_head audit_head_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_head
    ADD CONSTRAINT audit_head_pkey PRIMARY KEY (id);


--
-- Name: example_store_writes example_store_writes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.example_store_writes
    ADD CONSTRAINT example_store_writes_pkey PRIMARY KEY (example_id);


--
-- Name: examples examples_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.examples
    ADD CONSTRAINT examples_pkey PRIMARY KEY (id);


--
-- Name: feedback_items feedback_items_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback_items
    ADD CONSTRAINT feedback_items_pkey PRIMARY KEY (id);


--
-- Name: ledger_meta ledger_meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_meta
    ADD CONSTRAINT ledger_meta_pkey PRIMARY KEY (key);


--
-- Name: outbox outbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);


--
-- Name: preference_pairs preference_pairs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.preference_pairs
    ADD CONSTRAINT preference_pairs_pkey PRIMARY KEY (id);


--
-- Name: sync_cursors sync_cursors_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sync_cursors
    ADD CONSTRAINT sync_cursors_pkey PRIMARY KEY (name);


--
-- Name: tickets tickets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tickets
    ADD CONSTRAINT tickets_pkey PRIMARY KEY (id);


--
-- Name: ix_examples_feedback; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_examples_feedback ON public.examples USING btree (feedback_id);


--
-- Name: ix_examples_updated; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_examples_updated ON public.examples USING btree (updated_at);


--
-- Name: ix_feedback_record; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_feedback_record ON public.feedback_items USING btree (argilla_dataset, record_id);


--
-- Name: ix_outbox_pending; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_outbox_pending ON public.outbox USING btree (delivered_at, next_attempt_at);


--
-- Name: ix_pairs_feedback; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_pairs_feedback ON public.preference_pairs USING btree (feedback_id);


--
-- Name: ix_pairs_task; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_pairs_task ON public.preference_pairs USING btree (task);


--
-- Name: ix_pairs_updated; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_pairs_updated ON public.preference_pairs USING btree (updated_at);


--
-- Name: ix_tickets_record; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_tickets_record ON public.tickets USING btree (argilla_dataset, argilla_record_id);


--
-- Name: ix_tickets_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_tickets_status ON public.tickets USING btree (status);


--
-- Name: examples examples_feedback_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.examples
    ADD CONSTRAINT examples_feedback_id_fkey FOREIGN KEY (feedback_id) REFERENCES public.feedback_items(id);


--
-- Name: feedback_items feedback_items_ticket_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.feedback_items
    ADD CONSTRAINT feedback_items_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES public.tickets(id);


--
-- Name: outbox outbox_ticket_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES public.tickets(id);


--
-- Name: preference_pairs preference_pairs_feedback_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.preference_pairs
    ADD CONSTRAINT preference_pairs_feedback_id_fkey FOREIGN KEY (feedback_id) REFERENCES public.feedback_items(id);


--
-- PostgreSQL database dump complete
--


