//! Aggregations: how the inputs of one key and window fold into a value.
//!
//! [`CombineFn`] is Beam's `CombineFn`: create an accumulator, add inputs, merge accumulators (needed
//! for merging windows), extract the output. Count, sum, min, max and mean ship here; a user brings any
//! other by implementing the trait or by passing four closures to [`combine_fn`].

use std::fmt;
use std::marker::PhantomData;
use std::ops::Add;

/// Folds inputs into an accumulator and reads an output from it.
pub trait CombineFn {
    /// What one element contributes.
    type Input: Clone;
    /// The running state of one key and window.
    type Accumulator: Clone;
    /// What a pane carries.
    type Output;

    /// The accumulator of a window with no input yet.
    fn create_accumulator(&self) -> Self::Accumulator;
    /// Adds one input.
    fn add_input(&self, acc: &mut Self::Accumulator, input: Self::Input);
    /// Folds `other` into `acc` (windows merging, or partial results from several workers).
    fn merge_accumulators(&self, acc: &mut Self::Accumulator, other: Self::Accumulator);
    /// The value of a pane.
    fn extract_output(&self, acc: &Self::Accumulator) -> Self::Output;
}

/// Counts elements. Its input is `()`: a count needs nothing from the element.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count;

impl CombineFn for Count {
    type Input = ();
    type Accumulator = u64;
    type Output = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add_input(&self, acc: &mut u64, _: ()) {
        *acc += 1;
    }
    fn merge_accumulators(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
    fn extract_output(&self, acc: &u64) -> u64 {
        *acc
    }
}

/// Sums inputs of type `T` (`i64`, `u64`, `f64`, …).
///
/// It holds no `T`, so it is `Clone` and `Copy` whatever `T` is (a derive would demand `T: Clone`),
/// as running a pipeline needs.
pub struct Sum<T>(PhantomData<fn(T)>);

impl<T> Default for Sum<T> {
    fn default() -> Self {
        Sum(PhantomData)
    }
}

impl<T> Clone for Sum<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Sum<T> {}

impl<T> fmt::Debug for Sum<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sum")
    }
}

impl<T: Copy + Default + Add<Output = T>> CombineFn for Sum<T> {
    type Input = T;
    type Accumulator = T;
    type Output = T;
    fn create_accumulator(&self) -> T {
        T::default()
    }
    fn add_input(&self, acc: &mut T, input: T) {
        *acc = *acc + input;
    }
    fn merge_accumulators(&self, acc: &mut T, other: T) {
        *acc = *acc + other;
    }
    fn extract_output(&self, acc: &T) -> T {
        *acc
    }
}

/// The smallest input; `None` for a pane with no input. `Clone` and `Copy` whatever `T` is.
pub struct Min<T>(PhantomData<fn(T)>);
/// The largest input; `None` for a pane with no input. `Clone` and `Copy` whatever `T` is.
pub struct Max<T>(PhantomData<fn(T)>);

macro_rules! extremum {
    ($name:ident, $keep_new:expr) => {
        impl<T> Default for $name<T> {
            fn default() -> Self {
                $name(PhantomData)
            }
        }
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $name<T> {}
        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($name))
            }
        }
        impl<T: Copy + PartialOrd> CombineFn for $name<T> {
            type Input = T;
            type Accumulator = Option<T>;
            type Output = Option<T>;
            fn create_accumulator(&self) -> Option<T> {
                None
            }
            fn add_input(&self, acc: &mut Option<T>, input: T) {
                let keep_new: fn(&T, &T) -> bool = $keep_new;
                match acc {
                    Some(current) if !keep_new(&input, current) => {}
                    _ => *acc = Some(input),
                }
            }
            fn merge_accumulators(&self, acc: &mut Option<T>, other: Option<T>) {
                if let Some(v) = other {
                    self.add_input(acc, v);
                }
            }
            fn extract_output(&self, acc: &Option<T>) -> Option<T> {
                *acc
            }
        }
    };
}

extremum!(Min, |new, current| new < current);
extremum!(Max, |new, current| new > current);

/// The arithmetic mean of `f64` inputs; `None` for a pane with no input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mean;

impl CombineFn for Mean {
    type Input = f64;
    type Accumulator = (f64, u64);
    type Output = Option<f64>;
    fn create_accumulator(&self) -> (f64, u64) {
        (0.0, 0)
    }
    fn add_input(&self, acc: &mut (f64, u64), input: f64) {
        acc.0 += input;
        acc.1 += 1;
    }
    fn merge_accumulators(&self, acc: &mut (f64, u64), other: (f64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
    fn extract_output(&self, acc: &(f64, u64)) -> Option<f64> {
        (acc.1 > 0).then(|| acc.0 / acc.1 as f64)
    }
}

/// Every input of a pane, in arrival order: Beam's `GroupByKey` values (or `Combine` with `ToList`), for
/// pipelines and tests that look at the elements themselves rather than an aggregate.
///
/// ```
/// use pipeline::combine::{CombineFn, ToList};
/// let list = ToList::<&str>::default();
/// let mut acc = list.create_accumulator();
/// list.add_input(&mut acc, "a");
/// list.add_input(&mut acc, "b");
/// assert_eq!(list.extract_output(&acc), ["a", "b"]);
/// ```
pub struct ToList<T>(PhantomData<fn(T)>);

impl<T> Default for ToList<T> {
    fn default() -> Self {
        ToList(PhantomData)
    }
}

impl<T> Clone for ToList<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ToList<T> {}

impl<T> fmt::Debug for ToList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ToList")
    }
}

impl<T: Clone> CombineFn for ToList<T> {
    type Input = T;
    type Accumulator = Vec<T>;
    type Output = Vec<T>;
    fn create_accumulator(&self) -> Vec<T> {
        Vec::new()
    }
    fn add_input(&self, acc: &mut Vec<T>, input: T) {
        acc.push(input);
    }
    fn merge_accumulators(&self, acc: &mut Vec<T>, other: Vec<T>) {
        acc.extend(other);
    }
    fn extract_output(&self, acc: &Vec<T>) -> Vec<T> {
        acc.clone()
    }
}

/// A [`CombineFn`] made of four closures. Build one with [`combine_fn`]. It is `Clone` when the
/// closures are (closures that capture nothing, or only clonable values, are).
pub struct FnCombine<I, A, O, C, Ad, M, X> {
    create: C,
    add: Ad,
    merge: M,
    extract: X,
    types: PhantomData<fn(I) -> (A, O)>,
}

impl<I, A, O, C: Clone, Ad: Clone, M: Clone, X: Clone> Clone for FnCombine<I, A, O, C, Ad, M, X> {
    fn clone(&self) -> Self {
        FnCombine {
            create: self.create.clone(),
            add: self.add.clone(),
            merge: self.merge.clone(),
            extract: self.extract.clone(),
            types: PhantomData,
        }
    }
}

/// A user aggregation from closures: `create`, `add`, `merge`, `extract`.
///
/// ```
/// use pipeline::combine::{combine_fn, CombineFn};
/// // The set of distinct pages, as a sorted list.
/// let pages = combine_fn(
///     std::collections::BTreeSet::<String>::new,
///     |acc, page: String| { acc.insert(page); },
///     |acc, other| acc.extend(other),
///     |acc| acc.iter().cloned().collect::<Vec<_>>(),
/// );
/// let mut acc = pages.create_accumulator();
/// pages.add_input(&mut acc, "b.html".into());
/// pages.add_input(&mut acc, "a.html".into());
/// pages.add_input(&mut acc, "b.html".into());
/// assert_eq!(pages.extract_output(&acc), ["a.html", "b.html"]);
/// ```
pub fn combine_fn<I, A, O, C, Ad, M, X>(create: C, add: Ad, merge: M, extract: X) -> FnCombine<I, A, O, C, Ad, M, X>
where
    C: Fn() -> A,
    Ad: Fn(&mut A, I),
    M: Fn(&mut A, A),
    X: Fn(&A) -> O,
{
    FnCombine {
        create,
        add,
        merge,
        extract,
        types: PhantomData,
    }
}

impl<I, A, O, C, Ad, M, X> CombineFn for FnCombine<I, A, O, C, Ad, M, X>
where
    I: Clone,
    A: Clone,
    C: Fn() -> A,
    Ad: Fn(&mut A, I),
    M: Fn(&mut A, A),
    X: Fn(&A) -> O,
{
    type Input = I;
    type Accumulator = A;
    type Output = O;
    fn create_accumulator(&self) -> A {
        (self.create)()
    }
    fn add_input(&self, acc: &mut A, input: I) {
        (self.add)(acc, input)
    }
    fn merge_accumulators(&self, acc: &mut A, other: A) {
        (self.merge)(acc, other)
    }
    fn extract_output(&self, acc: &A) -> O {
        (self.extract)(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold<C: CombineFn>(c: &C, inputs: impl IntoIterator<Item = C::Input>) -> C::Output {
        let mut acc = c.create_accumulator();
        for i in inputs {
            c.add_input(&mut acc, i);
        }
        c.extract_output(&acc)
    }

    #[test]
    fn builtin_aggregations() {
        assert_eq!(fold(&Count, [(), (), ()]), 3);
        assert_eq!(fold(&Sum::<i64>::default(), [3, -1, 10]), 12);
        assert_eq!(fold(&Min::<i64>::default(), [3, -1, 10]), Some(-1));
        assert_eq!(fold(&Max::<f64>::default(), [3.5, -1.0, 10.25]), Some(10.25));
        assert_eq!(fold(&Min::<i64>::default(), []), None);
        assert_eq!(fold(&Mean, [1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(fold(&Mean, []), None);
    }

    #[test]
    fn builtin_aggregations_copy_without_their_input_type_being_clone() {
        /// An input type that is neither `Clone` nor `Copy`.
        struct Opaque;
        fn copies<T: Copy>(value: T) -> (T, T) {
            (value, value)
        }
        let _ = copies(Sum::<Opaque>::default());
        let _ = copies(Min::<Opaque>::default());
        let _ = copies(Max::<Opaque>::default());
        let _ = copies(Count);
        let _ = copies(Mean);
    }

    #[test]
    fn merging_equals_folding_everything() {
        let (a, b) = ([4i64, 9, 1], [7i64, 0]);
        let max = Max::<i64>::default();
        let mut left = max.create_accumulator();
        a.iter().for_each(|&x| max.add_input(&mut left, x));
        let mut right = max.create_accumulator();
        b.iter().for_each(|&x| max.add_input(&mut right, x));
        max.merge_accumulators(&mut left, right);
        assert_eq!(max.extract_output(&left), fold(&max, a.into_iter().chain(b)));
    }
}
