//! A tutor: lessons taught a step at a time, and each learner's place in them.
//!
//! This file is the whole app apart from its pack (`pack/`: the lessons as
//! catalog items, the rules and the persona) and migrations (`migrations/`).
//! The lessons are served by the kit's catalog (`domain_search`,
//! `domain_get_item`); this file keeps the steps each learner has completed
//! and tells `begin_session` where to resume, so the model knows without
//! asking. Sign-in, the session check before every tool, the caller, the
//! rules reminder, `STORE_UNAVAILABLE`, `INVALID_ARGUMENT` and the stored
//! outcome of each idempotency key are the kit's.

use std::{collections::BTreeSet, sync::Arc};

use gateway::{
    App, AppContext,
    domain::{AppDb, Caller, DomainError, NoArgs, Tx, domain_tools},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row};

/// The app, for `main` and for tests.
pub fn app() -> App {
    App::new()
        .pack(concat!(env!("CARGO_MANIFEST_DIR"), "/pack"))
        .catalog()
        .migrations(gateway::app_migrations!())
        .domain(Tutor::new)
}

#[derive(Debug)]
pub struct Tutor {
    db: AppDb,
    /// The pack's lessons, in its order.
    lessons: Vec<Lesson>,
}

#[derive(Debug)]
struct Lesson {
    id: String,
    title: String,
    steps: i64,
}

impl Tutor {
    /// Reads the lessons from the pack once, counting each one's steps.
    pub fn new(cx: &AppContext) -> Self {
        let lessons = cx
            .pack
            .items()
            .iter()
            .map(|item| Lesson {
                id: item.id.clone(),
                title: item.title.clone(),
                steps: steps_in(&item.body),
            })
            .collect();
        Self {
            db: cx.db.clone(),
            lessons,
        }
    }
}

/// A lesson's steps are the paragraphs of its body that begin `Step N.`;
/// a lesson with none is taught as one step.
fn steps_in(body: &str) -> i64 {
    let (mut steps, mut starts_paragraph) = (0, true);
    for line in body.lines().map(str::trim) {
        if starts_paragraph && is_step(line) {
            steps += 1;
        }
        starts_paragraph = line.is_empty();
    }
    steps.max(1)
}

fn is_step(line: &str) -> bool {
    line.strip_prefix("Step ").is_some_and(|rest| {
        let after = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        after.len() < rest.len() && after.starts_with('.')
    })
}

// ---- arguments and results ----------------------------------------------

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepArgs {
    /// The lesson's id, as `domain_search` returned it (`l1`).
    pub lesson_id: String,
    /// The step the learner has just finished, by its number in the lesson
    /// (`Step 2.` is 2), from 1.
    pub step: i64,
}

/// What to teach next.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Next {
    pub lesson_id: String,
    pub title: String,
    pub step: i64,
}

/// Where a learner stands in one lesson.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Position {
    pub lesson_id: String,
    pub title: String,
    pub steps_done: i64,
    pub steps_total: i64,
    /// The lesson's first step not done yet; once it is complete, the first
    /// step not done of the lessons after it (going round to the first
    /// lesson); null when every lesson is complete.
    pub next: Option<Next>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LessonProgress {
    pub id: String,
    pub title: String,
    pub steps_done: i64,
    pub steps_total: i64,
    pub complete: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Progress {
    /// The lessons the learner has started, in the catalog's order.
    pub lessons: Vec<LessonProgress>,
}

/// What `begin_session` adds under `app`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AtCheckIn {
    /// Where the learner stands: resume from `position.next`.
    pub learner: Learner,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Learner {
    /// Where to resume: the lesson worked on last and what comes next;
    /// null for a learner who has completed no step.
    pub position: Option<Position>,
    /// The ids of the lessons completed, in the catalog's order.
    pub completed: Vec<String>,
}

// ---- the tools ----------------------------------------------------------

/// One learner's completed steps, in the pack's terms.
struct Done<'t> {
    lessons: &'t [Lesson],
    /// The steps completed, per lesson in the pack's order.
    steps: Vec<BTreeSet<i64>>,
    /// The lesson of the step recorded last.
    latest: Option<usize>,
}

impl Done<'_> {
    fn next_step(&self, lesson: usize) -> Option<i64> {
        (1..=self.lessons[lesson].steps).find(|step| !self.steps[lesson].contains(step))
    }

    fn steps_done(&self, lesson: usize) -> i64 {
        self.steps[lesson].len() as i64
    }

    fn position(&self, lesson: usize) -> Position {
        let count = self.lessons.len();
        let next = (lesson..lesson + count).map(|i| i % count).find_map(|i| {
            self.next_step(i).map(|step| Next {
                lesson_id: self.lessons[i].id.clone(),
                title: self.lessons[i].title.clone(),
                step,
            })
        });
        Position {
            lesson_id: self.lessons[lesson].id.clone(),
            title: self.lessons[lesson].title.clone(),
            steps_done: self.steps_done(lesson),
            steps_total: self.lessons[lesson].steps,
            next,
        }
    }
}

#[domain_tools]
impl Tutor {
    fn lesson(&self, id: &str) -> Option<usize> {
        self.lessons.iter().position(|lesson| lesson.id == id)
    }

    /// The caller's completed steps, read through `db` (the pool, or an
    /// action's transaction, which sees its own write).
    async fn done<'c>(
        &self,
        db: impl sqlx::Executor<'c, Database = Any>,
        me: &Caller,
    ) -> Result<Done<'_>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT lesson_id, step FROM learner_steps WHERE user_id = $1 \
             ORDER BY done_at, lesson_id, step",
        )
        .bind(me.subject())
        .fetch_all(db)
        .await?;
        let mut done = Done {
            lessons: &self.lessons,
            steps: vec![BTreeSet::new(); self.lessons.len()],
            latest: None,
        };
        for row in &rows {
            let (lesson_id, step): (String, i64) =
                (row.try_get("lesson_id")?, row.try_get("step")?);
            // A lesson since taken out of the pack, or a step it no longer
            // has, does not count.
            if let Some(i) = self.lesson(&lesson_id)
                && step <= self.lessons[i].steps
            {
                done.steps[i].insert(step);
                done.latest = Some(i);
            }
        }
        Ok(done)
    }

    /// Record that the learner has finished one step of a lesson, and say what to teach next.
    /// Retrying with the same idempotency_key records it once.
    #[action(title = "Complete a step", additive)]
    async fn domain_complete_step(
        self: Arc<Self>,
        me: Caller,
        args: StepArgs,
        tx: Tx,
    ) -> Result<Position, DomainError> {
        let lesson = self.lesson(&args.lesson_id).ok_or_else(|| {
            DomainError::not_found("lesson", &args.lesson_id)
                .hint("Use domain_search to find a lesson by topic")
        })?;
        let steps = self.lessons[lesson].steps;
        if !(1..=steps).contains(&args.step) {
            return Err(DomainError::invalid(format!(
                "`step` must be between 1 and {steps}, the steps of lesson `{}`",
                args.lesson_id
            )));
        }
        let mut db = tx.conn().await?;
        // A step completed again (a review, under a new key) stays one record.
        sqlx::query(
            "INSERT INTO learner_steps (user_id, lesson_id, step, done_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(me.subject())
        .bind(&args.lesson_id)
        .bind(args.step)
        .bind(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .execute(&mut *db)
        .await?;
        Ok(self.done(&mut *db, &me).await?.position(lesson))
    }

    /// Every lesson you have started, in the catalog's order: steps done, of how many, and
    /// whether it is complete.
    #[query(title = "Your progress")]
    async fn user_progress(
        self: Arc<Self>,
        me: Caller,
        _: NoArgs,
    ) -> Result<Progress, DomainError> {
        let done = self.done(self.db.pool(), &me).await?;
        let lessons = (0..self.lessons.len())
            .filter(|&i| !done.steps[i].is_empty())
            .map(|i| LessonProgress {
                id: self.lessons[i].id.clone(),
                title: self.lessons[i].title.clone(),
                steps_done: done.steps_done(i),
                steps_total: self.lessons[i].steps,
                complete: done.next_step(i).is_none(),
            })
            .collect();
        Ok(Progress { lessons })
    }

    /// What `begin_session` tells the model at the start: where to resume.
    #[begin_session]
    async fn at_check_in(self: Arc<Self>, me: Caller) -> Result<AtCheckIn, DomainError> {
        let done = self.done(self.db.pool(), &me).await?;
        let completed = (0..self.lessons.len())
            .filter(|&i| done.next_step(i).is_none())
            .map(|i| self.lessons[i].id.clone())
            .collect();
        Ok(AtCheckIn {
            learner: Learner {
                position: done.latest.map(|i| done.position(i)),
                completed,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::steps_in;

    #[test]
    fn steps_are_the_paragraphs_that_begin_step_n() {
        assert_eq!(
            steps_in("Step 1. Add.\n\nStep 2. Carry.\n\nCheck yourself."),
            2
        );
        assert_eq!(steps_in("Step 1. One.\r\n\r\n  Step 10. Ten."), 2);
        // Inside a paragraph, or not a numbered step: not a step.
        assert_eq!(
            steps_in(
                "Step 1. Start.\nStep 2. is the same paragraph.\n\nSteps 3.\n\nStep x.\n\nIn Step 4."
            ),
            1
        );
        assert_eq!(steps_in("A lesson in one piece."), 1);
    }
}
