-- Each learner's completed steps, one row per step. `user_id` is the
-- verified caller's `sub`; `lesson_id` is an item of the pack's catalog,
-- which says how many steps the lesson has. The kit's tables are not touched.
CREATE TABLE learner_steps (
    user_id   TEXT NOT NULL,
    lesson_id TEXT NOT NULL,
    step      INTEGER NOT NULL CHECK (step > 0),
    done_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, lesson_id, step)
);
