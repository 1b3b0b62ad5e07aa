//! The engine: [`Tape`], [`Var`], and the reverse walk that computes gradients.
//!
//! A tape is a `Vec` of nodes in creation order. Every op reads its inputs' values, computes
//! its output, and pushes one node holding that output and a *backward closure*: given the
//! output `y` and the gradient `dL/dy`, the closure adds `dL/dx` into each input's gradient
//! slot. Because a node can only be created after its inputs, creation order is already a
//! topological order, so backward is a plain reverse loop over the vector: no recursion, no
//! visited set, no sorting.
//!
//! ```text
//!   forward:   x0  x1  w   h=x0@w   y=tanh(h)   loss=sum(y)        (push, push, push, ...)
//!   backward:  <-------------------------------------------------   (pop, run closure, drop)
//! ```
//!
//! Gradients *accumulate* (`slot += contribution`), which is what makes fan-out correct: a
//! value used by two ops receives the sum of both contributions (micrograd's `+=`).
//!
//! Memory: backward pops each node as it goes, so a node's value, its closure (and every
//! tensor the closure captured) and its gradient are freed as soon as the walk passes it.
//! After backward the tape is empty and *consumed*: further ops, or reading a value through a
//! [`Var`] of that tape, return an error. Each training step builds a fresh tape; parameters
//! live outside it, in a [`ParamStore`](crate::ParamStore).
//!
//! Values are shared, not copied: a node holds its output as `Arc<Tensor<T>>`, reading a
//! [`Var`]'s value clones the `Arc`, and closures capture those `Arc`s.
//!
//! Higher-order gradients: [`Tape::grad`] walks the same nodes without consuming them and
//! calls each op's optional *Var-level* backward ([`VarBackwardFn`]), which computes the
//! gradients with recorded ops, so that they can be differentiated again. Op nodes keep their
//! input ids for this walk. The Tensor-level closures and [`Tape::backward`] are untouched.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gumbel_tensor::{Element, Error, Result, Tensor};

use crate::params::ParamId;

/// Index of a node on its tape (its position in creation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) usize);

impl NodeId {
    /// The position of the node in creation order.
    pub fn index(self) -> usize {
        self.0
    }
}

/// The backward closure of an op: `(y, dy, grads)` where `y` is the op's output, `dy` is
/// `dL/dy` (same shape as `y`, owned so the closure may reuse its buffer), and `grads` is
/// where the closure adds its inputs' gradients.
pub type BackwardFn<T> = Box<dyn FnOnce(&Tensor<T>, Tensor<T>, &mut Grads<'_, T>) -> Result<()>>;

/// The *differentiable* (Var-level) backward of an op: `(y, dy, grads)` like
/// [`BackwardFn`], but `y` and `dy` are [`Var`]s on the tape and the closure adds each
/// input's gradient as a `Var` computed with ordinary, recorded ops
/// ([`VarGrads::add`]). [`Tape::grad`] calls it to build gradients that can themselves be
/// differentiated. It is `Fn` (one node may be differentiated by several `grad` calls) and
/// optional: an op without one cannot be crossed by a create-graph walk.
pub type VarBackwardFn<T> =
    Box<dyn for<'t> Fn(Var<'t, T>, Var<'t, T>, &mut VarGrads<'t, T>) -> Result<()>>;

enum Origin<T: Element> {
    /// An input, a constant or a parameter (then `param` names it).
    Leaf { param: Option<ParamId> },
    /// The output of an op; `backward` is `None` when no input requires a gradient (or the
    /// tape was in no-grad mode), in which case nothing was captured and `inputs` is empty.
    Op {
        name: &'static str,
        backward: Option<BackwardFn<T>>,
        /// The op's inputs in call order, kept only if `backward` is kept: [`Tape::grad`]
        /// walks the graph through them (the Tensor-level closures capture their own ids).
        inputs: InputIds,
        /// The Var-level backward, if the op has one (see [`VarBackwardFn`]).
        var_backward: Option<VarBackwardFn<T>>,
    },
}

/// The input ids of an op node: inline up to four (every op but `concat`/`stack` of many
/// values), so recording them costs no allocation on the common path.
enum InputIds {
    Inline(u8, [NodeId; 4]),
    Heap(Box<[NodeId]>),
}

impl InputIds {
    const NONE: InputIds = InputIds::Inline(0, [NodeId(0); 4]);

    fn new(vars: &[Var<'_, impl Element>]) -> Self {
        if vars.len() <= 4 {
            let mut ids = [NodeId(0); 4];
            for (d, v) in ids.iter_mut().zip(vars) {
                *d = v.id;
            }
            InputIds::Inline(vars.len() as u8, ids)
        } else {
            InputIds::Heap(vars.iter().map(|v| v.id).collect())
        }
    }

    fn as_slice(&self) -> &[NodeId] {
        match self {
            InputIds::Inline(n, ids) => &ids[..usize::from(*n)],
            InputIds::Heap(ids) => ids,
        }
    }
}

/// Whether [`Tape::grad`] records the gradient computation itself on the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateGraph {
    /// Record it (PyTorch's `create_graph=True`): the returned gradients are ordinary
    /// `Var`s that require a gradient wherever the math says they depend on one, so they
    /// can enter further computation and be differentiated again by [`Tape::backward`] or
    /// another [`Tape::grad`].
    Yes,
    /// Do not record it: the same Var-level backwards run in no-grad mode, and the
    /// returned gradients are constants (values on the tape, no closures).
    No,
}

struct Node<T: Element> {
    value: Arc<Tensor<T>>,
    requires_grad: bool,
    origin: Origin<T>,
}

static NEXT_TAPE_ID: AtomicU64 = AtomicU64::new(0);

/// A record of the ops of one forward pass, from which [`Tape::backward`] computes
/// gradients.
///
/// The tape uses interior mutability, so ops take `&Tape` (through their [`Var`]s) and a
/// model's forward function can be written as ordinary code on `Var`s:
///
/// ```
/// use gumbel_autograd::{Tape, tensor::Tensor};
/// # fn main() -> gumbel_autograd::Result<()> {
/// let tape = Tape::<f64>::new();
/// let x = tape.leaf(Tensor::new([2], vec![1.0, 2.0])?);
/// let y = x.mul(&x)?.sum()?;          // y = x0^2 + x1^2
/// let grads = tape.backward(y)?;
/// assert_eq!(grads.get(x).unwrap().as_slice(), &[2.0, 4.0]); // dy/dx = 2x
/// # Ok(()) }
/// ```
pub struct Tape<T: Element> {
    id: u64,
    nodes: RefCell<Vec<Node<T>>>,
    grad_enabled: Cell<bool>,
    training: Cell<bool>,
    consumed: Cell<bool>,
    /// A parameter enters a tape once; later requests return the same node.
    param_nodes: RefCell<HashMap<ParamId, NodeId>>,
}

impl<T: Element> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> fmt::Debug for Tape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tape")
            .field("nodes", &self.len())
            .field("grad_enabled", &self.grad_enabled.get())
            .field("training", &self.training.get())
            .field("consumed", &self.consumed.get())
            .finish()
    }
}

impl<T: Element> Tape<T> {
    /// An empty tape, recording gradients, in training mode.
    pub fn new() -> Self {
        Tape {
            id: NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed),
            nodes: RefCell::new(Vec::with_capacity(256)),
            grad_enabled: Cell::new(true),
            training: Cell::new(true),
            consumed: Cell::new(false),
            param_nodes: RefCell::new(HashMap::new()),
        }
    }

    /// An empty tape for inference: no-grad mode and eval mode (dropout is the identity).
    pub fn inference() -> Self {
        let t = Self::new();
        t.grad_enabled.set(false);
        t.training.set(false);
        t
    }

    /// Number of nodes recorded so far (0 after backward).
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// `true` if no node has been recorded (or backward has consumed them).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` once [`Tape::backward`] has run: the tape's nodes are gone.
    pub fn is_consumed(&self) -> bool {
        self.consumed.get()
    }

    /// Whether new ops record backward closures.
    pub fn is_grad_enabled(&self) -> bool {
        self.grad_enabled.get()
    }

    /// Turns gradient recording on or off for ops created from now on. With it off, ops
    /// still compute values but capture nothing, and their outputs do not require grad.
    pub fn set_grad_enabled(&self, on: bool) {
        self.grad_enabled.set(on);
    }

    /// Turns gradient recording off until the returned guard is dropped (like
    /// `with torch.no_grad():`).
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.leaf(Tensor::ones([3]));
    /// {
    ///     let _g = tape.no_grad();
    ///     assert!(!x.exp().unwrap().requires_grad());
    /// }
    /// assert!(x.exp().unwrap().requires_grad());
    /// ```
    pub fn no_grad(&self) -> NoGradGuard<'_, T> {
        let prev = self.grad_enabled.replace(false);
        NoGradGuard { tape: self, prev }
    }

    /// Turns gradient recording on until the returned guard is dropped (like
    /// `with torch.enable_grad():`): inside a [`Tape::no_grad`] region, a few ops can still be
    /// recorded with gradients.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// let tape = Tape::<f32>::new();
    /// let x = tape.leaf(Tensor::ones([3]));
    /// let _ng = tape.no_grad();
    /// {
    ///     let _g = tape.enable_grad();
    ///     assert!(x.exp().unwrap().requires_grad());
    /// }
    /// assert!(!x.exp().unwrap().requires_grad());
    /// ```
    pub fn enable_grad(&self) -> NoGradGuard<'_, T> {
        let prev = self.grad_enabled.replace(true);
        NoGradGuard { tape: self, prev }
    }

    /// Whether the tape is in training mode (dropout active). See [`Tape::set_training`].
    pub fn is_training(&self) -> bool {
        self.training.get()
    }

    /// Training mode (the default) or eval mode. Only dropout looks at it: in eval mode, or
    /// in no-grad mode, dropout is the identity.
    pub fn set_training(&self, on: bool) {
        self.training.set(on);
    }

    /// A leaf that does not require a gradient (data, targets, masks).
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push_leaf(Arc::new(value), false, None)
    }

    /// A leaf that requires a gradient: [`Tape::backward`] returns `dL/dvalue` for it in
    /// [`Gradients`]. In no-grad mode it is created like a constant.
    pub fn leaf(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push_leaf(Arc::new(value), self.grad_enabled.get(), None)
    }

    /// Like [`Tape::constant`] or [`Tape::leaf`] (per `requires_grad`), sharing an existing
    /// tensor instead of moving one in.
    pub fn leaf_shared(&self, value: Arc<Tensor<T>>, requires_grad: bool) -> Var<'_, T> {
        self.push_leaf(value, requires_grad && self.grad_enabled.get(), None)
    }

    pub(crate) fn param_leaf(
        &self,
        id: ParamId,
        value: &Arc<Tensor<T>>,
        requires_grad: bool,
    ) -> Result<Var<'_, T>> {
        self.check_live("ParamStore::var")?;
        if let Some(&node) = self.param_nodes.borrow().get(&id) {
            return Ok(Var {
                tape: self,
                id: node,
            });
        }
        let v = self.push_leaf(
            Arc::clone(value),
            requires_grad && self.grad_enabled.get(),
            Some(id),
        );
        self.param_nodes.borrow_mut().insert(id, v.id);
        Ok(v)
    }

    fn push_leaf(
        &self,
        value: Arc<Tensor<T>>,
        requires_grad: bool,
        param: Option<ParamId>,
    ) -> Var<'_, T> {
        let mut nodes = self.nodes.borrow_mut();
        // A consumed tape is empty; pushing onto it would alias old Vars' indices. Ops check
        // `check_live` and return an error; a leaf on a consumed tape is created but every
        // use of it reports the consumed tape.
        let id = NodeId(nodes.len());
        nodes.push(Node {
            value,
            requires_grad,
            origin: Origin::Leaf { param },
        });
        Var { tape: self, id }
    }

    /// Records an op: its output `value`, its inputs, and its backward closure.
    ///
    /// This is how every op in [`crate::ops`] is built, and how model code can add its
    /// own. The closure receives `(y, dy, grads)` and must add `dL/dx = dy * dy/dx` for each
    /// input `x` via [`Grads::add`] or [`Grads::slot`]; it runs at most once, during
    /// [`Tape::backward`]. If no input requires a gradient (or the tape is in no-grad mode)
    /// the closure is dropped at once and the output is a constant.
    ///
    /// ```
    /// # use gumbel_autograd::{Tape, tensor::Tensor};
    /// # fn main() -> gumbel_autograd::Result<()> {
    /// // A custom op: y = 3x, dy/dx = 3.
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::new([2], vec![1.0, -1.0])?);
    /// let xv = x.value()?;
    /// let y = Tensor::new([2], xv.as_slice().iter().map(|v| 3.0 * v).collect())?;
    /// let xid = x.id();
    /// let y = tape.op("triple", y, &[x], move |_y, dy, g| {
    ///     let dx = Tensor::new(dy.shape(), dy.as_slice().iter().map(|d| 3.0 * d).collect())?;
    ///     g.add(xid, dx)
    /// })?;
    /// let grads = tape.backward(y.sum()?)?;
    /// assert_eq!(grads.get(x).unwrap().as_slice(), &[3.0, 3.0]);
    /// # Ok(()) }
    /// ```
    pub fn op<'t, F>(
        &'t self,
        name: &'static str,
        value: Tensor<T>,
        inputs: &[Var<'_, T>],
        backward: F,
    ) -> Result<Var<'t, T>>
    where
        F: FnOnce(&Tensor<T>, Tensor<T>, &mut Grads<'_, T>) -> Result<()> + 'static,
    {
        self.op_shared(name, Arc::new(value), inputs, backward)
    }

    /// [`Tape::op`] with an output that is already shared (so the op's closure can capture
    /// it too, e.g. `tanh` keeping `y` for `dy * (1 - y^2)`).
    pub fn op_shared<'t, F>(
        &'t self,
        name: &'static str,
        value: Arc<Tensor<T>>,
        inputs: &[Var<'_, T>],
        backward: F,
    ) -> Result<Var<'t, T>>
    where
        F: FnOnce(&Tensor<T>, Tensor<T>, &mut Grads<'_, T>) -> Result<()> + 'static,
    {
        self.check_live(name)?;
        let mut nodes = self.nodes.borrow_mut();
        let mut requires_grad = false;
        for v in inputs {
            if !std::ptr::eq(v.tape, self) {
                return Err(Error::invalid_argument(
                    name,
                    "inputs come from different tapes (a Var belongs to the tape that made it)",
                ));
            }
            requires_grad |= nodes[v.id.0].requires_grad;
        }
        requires_grad &= self.grad_enabled.get();
        let (backward, input_ids): (Option<BackwardFn<T>>, _) = if requires_grad {
            (Some(Box::new(backward)), InputIds::new(inputs))
        } else {
            (None, InputIds::NONE)
        };
        let id = NodeId(nodes.len());
        nodes.push(Node {
            value,
            requires_grad,
            origin: Origin::Op {
                name,
                backward,
                inputs: input_ids,
                var_backward: None,
            },
        });
        Ok(Var { tape: self, id })
    }

    /// Attaches a Var-level backward ([`VarBackwardFn`]) to the op node `v`, which makes
    /// the op differentiable twice: [`Tape::grad`] with [`CreateGraph::Yes`] can cross it.
    /// Nothing is stored if `v` does not require a gradient. `Err` if `v` is a leaf or
    /// already has one. Used by [`Var::with_var_backward`].
    fn set_var_backward(&self, v: NodeId, f: VarBackwardFn<T>) -> Result<()> {
        self.check_live("with_var_backward")?;
        let mut nodes = self.nodes.borrow_mut();
        let node = &mut nodes[v.0];
        if !node.requires_grad {
            return Ok(());
        }
        match &mut node.origin {
            Origin::Leaf { .. } => Err(Error::invalid_argument(
                "with_var_backward",
                "a leaf has no backward to attach to",
            )),
            Origin::Op {
                name, var_backward, ..
            } => {
                if var_backward.is_some() {
                    return Err(Error::invalid_argument(
                        name,
                        "the op already has a differentiable backward",
                    ));
                }
                *var_backward = Some(f);
                Ok(())
            }
        }
    }

    fn check_live(&self, op: &'static str) -> Result<()> {
        if self.consumed.get() {
            Err(Error::invalid_argument(
                op,
                "this tape was consumed by backward; build a fresh tape for the next step",
            ))
        } else {
            Ok(())
        }
    }

    fn check_var(&self, v: Var<'_, T>, op: &'static str) -> Result<()> {
        self.check_live(op)?;
        if !std::ptr::eq(v.tape, self) {
            return Err(Error::invalid_argument(
                op,
                "the Var belongs to another tape",
            ));
        }
        Ok(())
    }

    /// Gradients of a scalar (one-element) `root` with respect to every leaf that requires
    /// a gradient, seeded with `dL/droot = 1`.
    ///
    /// Consumes the tape (its nodes are freed during the walk). `Err` if `root` has more
    /// than one element (use [`Tape::backward_with_seed`]), does not require a gradient, or
    /// a backward closure fails.
    pub fn backward(&self, root: Var<'_, T>) -> Result<Gradients<T>> {
        self.check_var(root, "backward")?;
        let shape = self.nodes.borrow()[root.id.0].value.shape().to_vec();
        let numel: usize = shape.iter().product();
        if numel != 1 {
            return Err(Error::invalid_shape(
                "backward",
                &shape,
                "backward without a seed needs a scalar (one-element) root; \
                 use backward_with_seed for a non-scalar output",
            ));
        }
        self.backward_with_seed(root, Tensor::full(shape, T::ONE))
    }

    /// Gradients of `root` with respect to every leaf that requires a gradient, given the
    /// seed `dL/droot` (same shape as `root`): computes the vector-Jacobian product
    /// `seed^T * d(root)/d(leaf)`. Consumes the tape.
    pub fn backward_with_seed(&self, root: Var<'_, T>, seed: Tensor<T>) -> Result<Gradients<T>> {
        self.check_var(root, "backward")?;
        let r = root.id.0;
        {
            let nodes = self.nodes.borrow();
            nodes[r]
                .value
                .expect_same_shape("backward (root vs seed)", &seed)?;
            if !nodes[r].requires_grad {
                return Err(Error::invalid_argument(
                    "backward",
                    "the root does not require a gradient: no input it depends on is a leaf \
                     requiring grad, or it was computed in no-grad mode",
                ));
            }
        }
        let mut nodes = self.nodes.take();
        self.consumed.set(true);
        self.param_nodes.borrow_mut().clear();
        // Nodes created after the root cannot influence it.
        nodes.truncate(r + 1);
        let mut slots: Vec<Option<Tensor<T>>> = Vec::with_capacity(r + 1);
        slots.resize_with(r + 1, || None);
        slots[r] = Some(seed);

        let mut out = Gradients {
            tape_id: self.id,
            leaves: Vec::new(),
        };
        // The reverse walk. Invariant: `nodes` and `slots` both hold exactly the nodes
        // 0..i, so a closure can only reach its inputs (which were created before it).
        while let Some(node) = nodes.pop() {
            let dy = slots.pop().expect("one gradient slot per node");
            let Some(dy) = dy else { continue }; // no gradient reached this node
            let id = NodeId(nodes.len());
            match node.origin {
                Origin::Leaf { param } => {
                    if node.requires_grad {
                        out.leaves.push(LeafGrad {
                            node: id,
                            param,
                            grad: Some(dy),
                        });
                    }
                }
                Origin::Op { name, backward, .. } => {
                    if let Some(f) = backward {
                        let mut g = Grads {
                            op: name,
                            slots: &mut slots,
                            nodes: &nodes,
                        };
                        f(&node.value, dy, &mut g)?;
                    }
                }
            }
            // `node` (value, closure and everything it captured) is dropped here.
        }
        out.leaves.reverse(); // creation order
        Ok(out)
    }

    /// Gradients of a scalar (one-element) `root` with respect to each of `wrt`, **without
    /// consuming the tape**, seeded with `d root/d root = 1` (PyTorch's
    /// `torch.autograd.grad(root, wrt, create_graph=..)`).
    ///
    /// Returns one entry per `wrt`: `Some(d root / d w)` (a `Var` of `w`'s shape), or `None`
    /// if `root` does not depend on `w` or `w` does not require a gradient.
    ///
    /// The walk visits, in reverse creation order, only the nodes on a path from some `w`
    /// to `root`, and calls each op's *Var-level* backward ([`VarBackwardFn`]), which
    /// computes `dx = dy * dy/dx` with ordinary ops on this tape. With [`CreateGraph::Yes`]
    /// those ops are recorded with gradients (whatever the tape's no-grad state), so a
    /// returned gradient can be used in further computation and differentiated again
    /// (second order through `backward`, third order through a second `grad`, and so on);
    /// with [`CreateGraph::No`] they are recorded as constants.
    ///
    /// Errors: `root` with more than one element (use [`Tape::grad_with_seed`]), a `Var`
    /// of another tape, a consumed tape, and an op on the walk that has no Var-level
    /// backward: `"<op> has no differentiable backward; higher-order gradients support:
    /// <list>"` (the list is [`crate::ops::VAR_BACKWARD_OPS`]).
    ///
    /// ```
    /// use gumbel_autograd::{CreateGraph, Tape, tensor::Tensor};
    /// # fn main() -> gumbel_autograd::Result<()> {
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::new([2], vec![1.0, 2.0])?);
    /// let f = x.mul(&x)?.mul(&x)?.sum()?;                   // f = sum x^3
    /// let g = tape.grad(f, &[x], CreateGraph::Yes)?[0].unwrap(); // g = 3 x^2
    /// assert_eq!(g.value()?.as_slice(), &[3.0, 12.0]);
    /// let h = tape.backward(g.sum()?)?;                     // d/dx sum(3 x^2) = 6 x
    /// assert_eq!(h.get(x).unwrap().as_slice(), &[6.0, 12.0]);
    /// # Ok(()) }
    /// ```
    pub fn grad<'t>(
        &'t self,
        root: Var<'t, T>,
        wrt: &[Var<'t, T>],
        mode: CreateGraph,
    ) -> Result<Vec<Option<Var<'t, T>>>> {
        self.check_var(root, "grad")?;
        let shape = root.shape()?;
        if shape.iter().product::<usize>() != 1 {
            return Err(Error::invalid_shape(
                "grad",
                &shape,
                "grad without a seed needs a scalar (one-element) root; \
                 use grad_with_seed for a non-scalar output",
            ));
        }
        let seed = self.constant(Tensor::full(shape, T::ONE));
        self.grad_with_seed(root, seed, wrt, mode)
    }

    /// [`Tape::grad`] for any `root`, given the seed `d L/d root` as a `Var` of `root`'s
    /// shape: returns the vector-Jacobian products `seed^T d root/d w`. The seed may itself
    /// depend on inputs (it is used as a `Var`), and the products are differentiable in it
    /// too with [`CreateGraph::Yes`].
    pub fn grad_with_seed<'t>(
        &'t self,
        root: Var<'t, T>,
        seed: Var<'t, T>,
        wrt: &[Var<'t, T>],
        mode: CreateGraph,
    ) -> Result<Vec<Option<Var<'t, T>>>> {
        const OP: &str = "grad";
        self.check_var(root, OP)?;
        self.check_var(seed, OP)?;
        for &w in wrt {
            self.check_var(w, OP)?;
        }
        if root.shape()? != seed.shape()? {
            return Err(Error::shape_mismatch(
                "grad (root vs seed)",
                &root.shape()?,
                &seed.shape()?,
            ));
        }
        let _mode = match mode {
            CreateGraph::Yes => self.enable_grad(),
            CreateGraph::No => self.no_grad(),
        };
        let r = root.id.0;
        let needed = self.nodes_between(wrt, r);
        let mut grads: Vec<Option<Var<'t, T>>> = vec![None; r + 1];
        if needed[r] {
            grads[r] = Some(seed);
        }
        for i in (0..=r).rev() {
            let Some(dy) = grads[i].filter(|_| needed[i]) else {
                continue;
            };
            // Take the closure out, so that it can record ops on the tape (which borrows
            // the nodes mutably) while it runs; it is put back whatever it returns.
            let (name, inputs, f) = match &mut self.nodes.borrow_mut()[i].origin {
                Origin::Leaf { .. } => continue,
                Origin::Op {
                    name,
                    inputs,
                    var_backward,
                    ..
                } => (*name, inputs.as_slice().to_vec(), var_backward.take()),
            };
            let Some(f) = f else {
                return Err(Error::invalid_argument(
                    "grad (create_graph)",
                    format!(
                        "{name} has no differentiable backward; higher-order gradients \
                         support: {}",
                        crate::ops::VAR_BACKWARD_OPS.join(", ")
                    ),
                ));
            };
            let mut vg = VarGrads {
                op: name,
                inputs: inputs.iter().map(|&id| Var { tape: self, id }).collect(),
                wants: inputs.iter().map(|id| needed[id.0]).collect(),
                out: vec![None; inputs.len()],
            };
            let res = f(
                Var {
                    tape: self,
                    id: NodeId(i),
                },
                dy,
                &mut vg,
            );
            if let Origin::Op { var_backward, .. } = &mut self.nodes.borrow_mut()[i].origin {
                *var_backward = Some(f);
            }
            res?;
            for (id, g) in inputs.iter().zip(vg.out) {
                if let Some(g) = g
                    && needed[id.0]
                {
                    accumulate(&mut grads[id.0], g)?;
                }
            }
        }
        Ok(wrt
            .iter()
            .map(|w| {
                grads
                    .get(w.id.0)
                    .copied()
                    .flatten()
                    .filter(|_| needed[w.id.0])
            })
            .collect())
    }

    /// `needed[i]` for the nodes `0..=r`: node `i` requires a gradient, depends on some
    /// node of `wrt` (or is one), and `r` depends on it. Two sweeps over creation order:
    /// forward for "depends on wrt", backward from `r` for "r depends on it".
    fn nodes_between(&self, wrt: &[Var<'_, T>], r: usize) -> Vec<bool> {
        let nodes = self.nodes.borrow();
        let inputs = |i: usize| match &nodes[i].origin {
            Origin::Op { inputs, .. } => inputs.as_slice(),
            Origin::Leaf { .. } => &[],
        };
        let mut from_wrt = vec![false; r + 1];
        for w in wrt {
            if w.id.0 <= r && nodes[w.id.0].requires_grad {
                from_wrt[w.id.0] = true;
            }
        }
        for i in 0..=r {
            if !from_wrt[i] && nodes[i].requires_grad {
                from_wrt[i] = inputs(i).iter().any(|j| from_wrt[j.0]);
            }
        }
        let mut needed = vec![false; r + 1];
        needed[r] = from_wrt[r];
        for i in (0..=r).rev() {
            if needed[i] {
                for j in inputs(i) {
                    needed[j.0] = from_wrt[j.0];
                }
            }
        }
        needed
    }
}

/// Where a Var-level backward ([`VarBackwardFn`]) puts its inputs' gradients, as `Var`s.
///
/// Inputs are addressed by their position in the op's input list (the `inputs` given to
/// [`Tape::op`]); [`VarGrads::input`] returns them as `Var`s, so a backward can use the
/// inputs' values differentiably (`mul`'s `da = dy * b` multiplies by the `Var` `b`).
pub struct VarGrads<'t, T: Element> {
    op: &'static str,
    inputs: Vec<Var<'t, T>>,
    wants: Vec<bool>,
    out: Vec<Option<Var<'t, T>>>,
}

impl<'t, T: Element> VarGrads<'t, T> {
    /// Input `k` of the op, as a `Var`. `Err` if the op has fewer inputs.
    pub fn input(&self, k: usize) -> Result<Var<'t, T>> {
        self.inputs.get(k).copied().ok_or_else(|| {
            Error::invalid_argument(
                self.op,
                format!(
                    "the differentiable backward asked for input {k} of {}",
                    self.inputs.len()
                ),
            )
        })
    }

    /// The number of inputs of the op.
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// `true` if the walk needs the gradient of input `k` (it requires a gradient and lies
    /// between the `wrt` values and the root): an op may skip the others.
    pub fn wants(&self, k: usize) -> bool {
        self.wants.get(k).copied().unwrap_or(false)
    }

    /// Adds `g` (a `Var` of input `k`'s shape) to input `k`'s gradient. `Err` if `g`'s
    /// shape is not the input's or `k` is out of range.
    pub fn add(&mut self, k: usize, g: Var<'t, T>) -> Result<()> {
        let x = self.input(k)?;
        let (xs, gs) = (x.shape()?, g.shape()?);
        if xs != gs {
            return Err(Error::shape_mismatch(self.op, &xs, &gs));
        }
        if !self.wants(k) {
            return Ok(());
        }
        accumulate(&mut self.out[k], g)
    }
}

/// `slot += g` for gradients as `Var`s: a recorded `add` (so fan-out stays differentiable),
/// or `g` itself into an empty slot.
fn accumulate<'t, T: Element>(slot: &mut Option<Var<'t, T>>, g: Var<'t, T>) -> Result<()> {
    *slot = Some(match *slot {
        Some(a) => a.add(&g)?,
        None => g,
    });
    Ok(())
}

/// Restores the previous gradient mode when dropped. See [`Tape::no_grad`] and
/// [`Tape::enable_grad`].
pub struct NoGradGuard<'t, T: Element> {
    tape: &'t Tape<T>,
    prev: bool,
}

impl<T: Element> Drop for NoGradGuard<'_, T> {
    fn drop(&mut self) {
        self.tape.grad_enabled.set(self.prev);
    }
}

/// Where a backward closure adds its inputs' gradients.
///
/// Slots start empty. [`Grads::add`] moves a tensor into an empty slot (no copy) or adds it
/// to the one already there; [`Grads::slot`] hands out the slot zero-filled, for kernels
/// that accumulate in place (`matmul_acc` with `beta = 1`, scatter-add). Inputs that do not
/// require a gradient are skipped, and [`Grads::wants`] lets an op skip computing them.
pub struct Grads<'a, T: Element> {
    op: &'static str,
    slots: &'a mut Vec<Option<Tensor<T>>>,
    nodes: &'a [Node<T>],
}

impl<T: Element> Grads<'_, T> {
    /// `true` if the input `id` requires a gradient.
    pub fn wants(&self, id: NodeId) -> bool {
        self.node(id).is_some_and(|n| n.requires_grad)
    }

    /// The node `id`, if it precedes the op being differentiated (as its inputs do). A
    /// closure of a custom op that names any other node is a bug in that op: `add`
    /// reports it, the other accessors ignore it.
    fn node(&self, id: NodeId) -> Option<&Node<T>> {
        self.nodes.get(id.0)
    }

    /// Adds `g` into the gradient of input `id` (`slot += g`). `Err` if `g`'s shape is not
    /// the input's.
    pub fn add(&mut self, id: NodeId, g: Tensor<T>) -> Result<()> {
        let Some(node) = self.node(id) else {
            return Err(Error::invalid_argument(
                self.op,
                "the backward closure added a gradient for a value created after the op \
                 (only the op's inputs can receive gradients)",
            ));
        };
        if !node.requires_grad {
            return Ok(());
        }
        if g.shape() != node.value.shape() {
            return Err(Error::shape_mismatch(
                self.op,
                node.value.shape(),
                g.shape(),
            ));
        }
        match &mut self.slots[id.0] {
            Some(acc) => gumbel_tensor::ops::add_assign(acc, &g)?,
            slot @ None => *slot = Some(g),
        }
        Ok(())
    }

    /// The gradient of input `id`, zero-filled if nothing was added yet, for in-place
    /// accumulation; `None` if the input does not require a gradient.
    pub fn slot(&mut self, id: NodeId) -> Option<&mut Tensor<T>> {
        let node = self.nodes.get(id.0)?;
        if !node.requires_grad {
            return None;
        }
        Some(self.slots[id.0].get_or_insert_with(|| Tensor::zeros(node.value.shape())))
    }

    /// The gradient of input `id` if something was already added to it (for kernels that
    /// can either accumulate into an existing buffer or write a fresh one, like gemm with
    /// `beta = 1` or `beta = 0`).
    pub fn existing(&mut self, id: NodeId) -> Option<&mut Tensor<T>> {
        self.slots.get_mut(id.0)?.as_mut()
    }

    /// The value of input `id` (still alive during the walk: inputs precede their users).
    pub fn value(&self, id: NodeId) -> Option<&Arc<Tensor<T>>> {
        self.node(id).map(|n| &n.value)
    }
}

struct LeafGrad<T> {
    node: NodeId,
    param: Option<ParamId>,
    grad: Option<Tensor<T>>,
}

/// The result of [`Tape::backward`]: `dL/dleaf` for every leaf that requires a gradient
/// and was reached from the root (a leaf the root does not depend on has no entry).
///
/// Parameter gradients go into their store with
/// [`ParamStore::accumulate`](crate::ParamStore::accumulate).
pub struct Gradients<T: Element> {
    tape_id: u64,
    leaves: Vec<LeafGrad<T>>,
}

impl<T: Element> fmt::Debug for Gradients<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for leaf in &self.leaves {
            if let Some(g) = &leaf.grad {
                l.entry(&(leaf.node, leaf.param, g.shape()));
            }
        }
        l.finish()
    }
}

impl<T: Element> Gradients<T> {
    /// `dL/dv` for a leaf `v` of the tape that produced these gradients; `None` if `v` is
    /// not such a leaf, was not reached, or its gradient was taken.
    pub fn get(&self, v: Var<'_, T>) -> Option<&Tensor<T>> {
        if v.tape.id != self.tape_id {
            return None;
        }
        self.leaves
            .iter()
            .find(|l| l.node == v.id)
            .and_then(|l| l.grad.as_ref())
    }

    /// Like [`Gradients::get`], moving the tensor out.
    pub fn take(&mut self, v: Var<'_, T>) -> Option<Tensor<T>> {
        if v.tape.id != self.tape_id {
            return None;
        }
        self.leaves
            .iter_mut()
            .find(|l| l.node == v.id)
            .and_then(|l| l.grad.take())
    }

    /// The gradient of a parameter, if it was on the tape and reached.
    pub fn param(&self, id: ParamId) -> Option<&Tensor<T>> {
        self.leaves
            .iter()
            .find(|l| l.param == Some(id))
            .and_then(|l| l.grad.as_ref())
    }

    /// Moves out the gradients of every parameter satisfying `keep` (used by
    /// [`ParamStore::accumulate`](crate::ParamStore::accumulate)).
    pub(crate) fn take_params(
        &mut self,
        mut keep: impl FnMut(ParamId) -> bool,
    ) -> Vec<(ParamId, Tensor<T>)> {
        let mut out = Vec::new();
        for l in &mut self.leaves {
            if let Some(p) = l.param
                && keep(p)
                && let Some(g) = l.grad.take()
            {
                out.push((p, g));
            }
        }
        out
    }

    /// Number of leaves with a gradient still held.
    pub fn len(&self) -> usize {
        self.leaves.iter().filter(|l| l.grad.is_some()).count()
    }

    /// `true` if no gradient is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A value on a tape: a node id and a reference to its tape. `Copy`, 16 bytes.
///
/// Ops are methods (`x.matmul_t(&w)?.add(&b)?.tanh()?`), each returning a new `Var` on the
/// same tape, or an error naming the op and the shapes.
pub struct Var<'t, T: Element> {
    tape: &'t Tape<T>,
    id: NodeId,
}

impl<T: Element> Clone for Var<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Element> Copy for Var<'_, T> {}

impl<T: Element> fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value() {
            Ok(v) => write!(f, "Var#{}({:?})", self.id.0, v),
            Err(_) => write!(f, "Var#{}(consumed)", self.id.0),
        }
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// The node's id on its tape.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The tape this value lives on.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// The value (a shared handle, no copy). `Err` once the tape has been consumed by
    /// backward.
    pub fn value(&self) -> Result<Arc<Tensor<T>>> {
        self.tape.check_live("Var::value")?;
        Ok(Arc::clone(&self.tape.nodes.borrow()[self.id.0].value))
    }

    /// The shape of the value.
    pub fn shape(&self) -> Result<Vec<usize>> {
        self.tape.check_live("Var::shape")?;
        Ok(self.tape.nodes.borrow()[self.id.0].value.shape().to_vec())
    }

    /// The single element of a one-element value (a loss).
    pub fn item(&self) -> Result<T> {
        self.value()?.item()
    }

    /// Whether gradients flow to this value (it depends on a leaf that requires grad, and
    /// was recorded with gradients enabled). `false` on a consumed tape.
    pub fn requires_grad(&self) -> bool {
        !self.tape.consumed.get() && self.tape.nodes.borrow()[self.id.0].requires_grad
    }

    /// The name of the op that produced this value (`"leaf"` for leaves).
    pub fn op_name(&self) -> &'static str {
        if self.tape.consumed.get() {
            return "consumed";
        }
        match &self.tape.nodes.borrow()[self.id.0].origin {
            Origin::Leaf { .. } => "leaf",
            Origin::Op { name, .. } => name,
        }
    }

    /// The same value as a new leaf that does not require a gradient: gradients stop here
    /// (like `tensor.detach()`). The tensor is shared, not copied.
    pub fn detach(&self) -> Result<Var<'t, T>> {
        let v = self.value()?;
        Ok(self.tape.push_leaf(v, false, None))
    }

    /// Shorthand for [`Tape::backward`] on this value's tape.
    pub fn backward(&self) -> Result<Gradients<T>> {
        self.tape.backward(*self)
    }

    /// Attaches a Var-level backward to the op that produced this value (see
    /// [`VarBackwardFn`]) and returns the value: `x.push(..)?.with_var_backward(..)`.
    ///
    /// The closure receives `(y, dy, grads)` with `y` this value and `dy` its gradient as
    /// `Var`s, and adds each input's gradient `dx = dy * dy/dx` with [`VarGrads::add`],
    /// computed with differentiable ops. It must compute the same gradient as the op's
    /// Tensor-level closure (which the ordinary [`Tape::backward`] keeps using). Nothing is
    /// stored if the value does not require a gradient. `Err` for a leaf, or if the op
    /// already has one.
    ///
    /// ```
    /// # use gumbel_autograd::{CreateGraph, Tape, tensor::Tensor};
    /// # fn main() -> gumbel_autograd::Result<()> {
    /// // A custom op y = 3x, differentiable twice: dx = 3 dy, as a recorded op on dy.
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::new([2], vec![1.0, -1.0])?);
    /// let y = Tensor::new([2], x.value()?.as_slice().iter().map(|v| 3.0 * v).collect())?;
    /// let xid = x.id();
    /// let y = tape
    ///     .op("triple", y, &[x], move |_y, dy, g| {
    ///         let dx = Tensor::new(dy.shape(), dy.as_slice().iter().map(|d| 3.0 * d).collect())?;
    ///         g.add(xid, dx)
    ///     })?
    ///     .with_var_backward(|_y, dy, g| g.add(0, dy.scale(3.0)?))?;
    /// let dx = tape.grad(y.mul(&y)?.sum()?, &[x], CreateGraph::Yes)?[0].unwrap(); // 18 x
    /// assert_eq!(dx.value()?.as_slice(), &[18.0, -18.0]);
    /// # Ok(()) }
    /// ```
    pub fn with_var_backward<F>(self, f: F) -> Result<Self>
    where
        F: for<'a> Fn(Var<'a, T>, Var<'a, T>, &mut VarGrads<'a, T>) -> Result<()> + 'static,
    {
        if self.requires_grad() {
            self.tape.set_var_backward(self.id, Box::new(f))?;
        } else {
            self.tape.check_live("with_var_backward")?;
        }
        Ok(self)
    }

    /// Records an op with this value's tape (see [`Tape::op`]).
    pub(crate) fn push<F>(
        &self,
        name: &'static str,
        value: Tensor<T>,
        inputs: &[Var<'_, T>],
        backward: F,
    ) -> Result<Var<'t, T>>
    where
        F: FnOnce(&Tensor<T>, Tensor<T>, &mut Grads<'_, T>) -> Result<()> + 'static,
    {
        self.tape.op(name, value, inputs, backward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test-local op on plain loops, so the engine is tested independently of the op
    /// modules: y = a * b elementwise, da = dy * b, db = dy * a.
    fn mul<'t>(a: Var<'t, f64>, b: Var<'t, f64>) -> Result<Var<'t, f64>> {
        let (av, bv) = (a.value()?, b.value()?);
        let y: Vec<f64> = av
            .as_slice()
            .iter()
            .zip(bv.as_slice())
            .map(|(x, y)| x * y)
            .collect();
        let (ia, ib) = (a.id(), b.id());
        a.tape().op(
            "mul",
            Tensor::new(av.shape(), y)?,
            &[a, b],
            move |_, dy, g| {
                let d = |o: &Tensor<f64>| {
                    let v = dy
                        .as_slice()
                        .iter()
                        .zip(o.as_slice())
                        .map(|(d, o)| d * o)
                        .collect();
                    Tensor::new(dy.shape(), v)
                };
                g.add(ia, d(&bv)?)?;
                g.add(ib, d(&av)?)
            },
        )
    }

    /// y = sum(x), dx = dy broadcast.
    fn sum<'t>(x: Var<'t, f64>) -> Result<Var<'t, f64>> {
        let xv = x.value()?;
        let s: f64 = xv.as_slice().iter().sum();
        let ix = x.id();
        let shape = xv.shape().to_vec();
        x.tape()
            .op("sum", Tensor::scalar(s), &[x], move |_, dy, g| {
                g.add(ix, Tensor::full(shape, dy.item()?))
            })
    }

    fn t(v: &[f64]) -> Tensor<f64> {
        Tensor::new([v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn fan_out_accumulates() {
        // L = sum(x*x + x*y) -> dL/dx = 2x + y, dL/dy = x. x is used three times.
        let tape = Tape::new();
        let x = tape.leaf(t(&[1.0, -2.0, 3.0]));
        let y = tape.leaf(t(&[0.5, 4.0, -1.0]));
        let xx = mul(x, x).unwrap();
        let xy = mul(x, y).unwrap();
        let l = sum(xx).unwrap();
        let l2 = sum(xy).unwrap();
        // add the two scalars with a custom op: d/dl = d/dl2 = 1
        let (i1, i2) = (l.id(), l2.id());
        let total = tape
            .op(
                "add",
                Tensor::scalar(l.item().unwrap() + l2.item().unwrap()),
                &[l, l2],
                move |_, dy, g| {
                    g.add(i1, dy.clone())?;
                    g.add(i2, dy)
                },
            )
            .unwrap();
        let grads = tape.backward(total).unwrap();
        assert_eq!(grads.get(x).unwrap().as_slice(), &[2.5, 0.0, 5.0]);
        assert_eq!(grads.get(y).unwrap().as_slice(), &[1.0, -2.0, 3.0]);
    }

    #[test]
    fn backward_needs_a_scalar_or_a_seed() {
        let tape = Tape::new();
        let x = tape.leaf(t(&[1.0, 2.0]));
        let y = mul(x, x).unwrap();
        let err = tape.backward(y).unwrap_err();
        assert!(err.to_string().contains("backward_with_seed"), "{err}");
        assert!(
            !tape.is_consumed(),
            "a rejected backward leaves the tape usable"
        );
        // vector-Jacobian product with seed s: dx = s * 2x
        let grads = tape.backward_with_seed(y, t(&[1.0, 10.0])).unwrap();
        assert_eq!(grads.get(x).unwrap().as_slice(), &[2.0, 40.0]);
        // the wrong seed shape is an error naming both shapes
        let tape = Tape::new();
        let x = tape.leaf(t(&[1.0, 2.0]));
        let err = tape.backward_with_seed(x, t(&[1.0])).unwrap_err();
        assert!(
            err.to_string().contains("[2]") && err.to_string().contains("[1]"),
            "{err}"
        );
    }

    #[test]
    fn tape_is_consumed_and_released_by_backward() {
        let tape = Tape::new();
        let x = tape.leaf(t(&[1.0, 2.0]));
        let big = Arc::new(Tensor::<f64>::zeros([1000]));
        let c = tape.leaf_shared(Arc::clone(&big), false);
        let y = sum(mul(x, x).unwrap()).unwrap();
        let _unused = sum(c).unwrap();
        assert_eq!(Arc::strong_count(&big), 2);
        tape.backward(y).unwrap();
        assert_eq!(tape.len(), 0);
        assert_eq!(
            Arc::strong_count(&big),
            1,
            "the tape's reference was released"
        );
        assert!(x.value().is_err());
        assert!(mul(x, x).unwrap_err().to_string().contains("consumed"));
        assert!(
            tape.backward(y).is_err(),
            "backward twice is an error, not a panic"
        );
    }

    #[test]
    fn detach_and_constants_stop_gradients() {
        let tape = Tape::new();
        let x = tape.leaf(t(&[3.0]));
        let d = x.detach().unwrap();
        assert!(!d.requires_grad());
        // L = x * detach(x): dL/dx = detach(x) = 3 (not 2x = 6)
        let l = mul(x, d).unwrap();
        let grads = tape.backward(l).unwrap();
        assert_eq!(grads.get(x).unwrap().as_slice(), &[3.0]);
        assert!(grads.get(d).is_none());

        let tape = Tape::new();
        let c = tape.constant(t(&[3.0]));
        let l = mul(c, c).unwrap();
        assert!(!l.requires_grad());
        assert!(
            tape.backward(l)
                .unwrap_err()
                .to_string()
                .contains("does not require")
        );
    }

    #[test]
    fn no_grad_records_no_closures() {
        let tape = Tape::new();
        let x = tape.leaf(t(&[2.0]));
        {
            let _g = tape.no_grad();
            let y = mul(x, x).unwrap();
            assert!(!y.requires_grad());
            assert_eq!(y.item().unwrap(), 4.0);
        }
        assert!(tape.is_grad_enabled());
        let inf = Tape::<f64>::inference();
        assert!(!inf.leaf(t(&[1.0])).requires_grad());
        assert!(!inf.is_training());
    }

    #[test]
    fn a_custom_op_naming_a_later_node_is_an_error_not_a_panic() {
        let tape = Tape::new();
        let x = tape.leaf(t(&[1.0]));
        let later = NodeId(5);
        let y = tape
            .op("buggy", Tensor::scalar(1.0), &[x], move |_, dy, g| {
                assert!(!g.wants(later) && g.slot(later).is_none() && g.value(later).is_none());
                g.add(later, dy)
            })
            .unwrap();
        let err = tape.backward(y).unwrap_err().to_string();
        assert!(
            err.starts_with("buggy") && err.contains("created after"),
            "{err}"
        );
    }

    #[test]
    fn vars_from_two_tapes_do_not_mix() {
        let t1 = Tape::new();
        let t2 = Tape::new();
        let a = t1.leaf(t(&[1.0]));
        let b = t2.leaf(t(&[1.0]));
        let err = mul(a, b).unwrap_err();
        assert!(err.to_string().contains("different tapes"), "{err}");
        let grads = t1.backward(a).unwrap();
        assert!(grads.get(b).is_none());
        assert_eq!(grads.get(a).unwrap().as_slice(), &[1.0]);
    }

    #[test]
    fn unreached_leaves_have_no_entry_and_later_nodes_are_ignored() {
        let tape = Tape::new();
        let x = tape.leaf(t(&[1.0]));
        let unused = tape.leaf(t(&[5.0]));
        let y = mul(x, x).unwrap();
        let _after = mul(y, unused).unwrap(); // created after the root: ignored
        let grads = tape.backward(y).unwrap();
        assert!(grads.get(unused).is_none());
        assert_eq!(grads.len(), 1);
    }
}
