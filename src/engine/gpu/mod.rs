//! The GPU backend: WGSL kernels through wgpu, on any Vulkan, Metal or DX12
//! adapter (lavapipe in CI).
//!
//! Many steps are encoded per submission: each step's constants sit in a
//! uniform buffer at a dynamic offset, so nothing goes back to the host
//! until the chunk ends; recorded spikes and samples are then read back
//! together. Pipelines and bind groups are made once.

pub mod layout;
pub mod shaders;

use super::twin::collect_chunk;
use super::{Chunk, Engine, EngineError};
use crate::build::Network;
use crate::rng::PoissonParams;
use layout::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wgpu::util::DeviceExt;

/// An adapter as `renshaw info` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterReport {
    /// Name.
    pub name: String,
    /// Backend (Vulkan, Metal, Dx12, Gl).
    pub backend: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub device_type: String,
    /// Driver and its version.
    pub driver: String,
    /// Largest buffer, bytes.
    pub max_buffer_size: u64,
    /// Largest storage binding, bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Storage buffers one kernel may bind.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Threads per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Whether renshaw can run on it.
    pub usable: bool,
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if std::env::var_os("WGPU_BACKEND").is_none() {
        // Vulkan, Metal, DX12: OpenGL cannot run the kernels, and probing it
        // on a headless machine only prints noise.
        desc.backends = wgpu::Backends::PRIMARY;
    }
    wgpu::Instance::new(desc)
}

fn rank(info: &wgpu::AdapterInfo) -> u32 {
    let by_type = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    };
    // OpenGL cannot run these kernels' storage buffers portably; rank it last.
    if info.backend == wgpu::Backend::Gl {
        by_type
    } else {
        by_type + 10
    }
}

/// Storage buffers the kernels bind at once.
pub const STORAGE_BINDINGS: u32 = 25;

fn usable(adapter: &wgpu::Adapter) -> bool {
    let l = adapter.limits();
    adapter.get_info().backend != wgpu::Backend::Gl
        && l.max_storage_buffers_per_shader_stage >= STORAGE_BINDINGS
        && l.max_compute_invocations_per_workgroup >= 64
}

/// Every adapter wgpu finds, best first.
pub fn list_adapters() -> Vec<AdapterReport> {
    let mut adapters = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()));
    adapters.sort_by_key(|a| std::cmp::Reverse(rank(&a.get_info())));
    adapters
        .iter()
        .map(|a| {
            let i = a.get_info();
            let l = a.limits();
            AdapterReport {
                name: i.name.clone(),
                backend: format!("{:?}", i.backend),
                device_type: format!("{:?}", i.device_type),
                driver: format!("{} {}", i.driver, i.driver_info).trim().to_string(),
                max_buffer_size: l.max_buffer_size,
                max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
                max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
                max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
                max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
                usable: usable(a),
            }
        })
        .collect()
}

/// The best usable adapter: discrete over integrated over virtual over software.
pub fn best_adapter() -> Result<wgpu::Adapter, EngineError> {
    let adapters = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()));
    let found: Vec<String> = adapters
        .iter()
        .map(|a| format!("{} ({:?})", a.get_info().name, a.get_info().backend))
        .collect();
    adapters.into_iter().filter(usable).max_by_key(|a| rank(&a.get_info())).ok_or_else(|| {
        EngineError::Backend(if found.is_empty() {
            "no GPU adapter found (wgpu sees no Vulkan, Metal or DX12 device; on Linux without a GPU, `apt-get install mesa-vulkan-drivers` gives a software one)".into()
        } else {
            format!("no usable GPU adapter among: {} (need Vulkan, Metal or DX12 with {STORAGE_BINDINGS} storage buffers per kernel)", found.join(", "))
        })
    })
}

struct Pipelines {
    begin_step: wgpu::ComputePipeline,
    neuron_update: wgpu::ComputePipeline,
    deliver: wgpu::ComputePipeline,
    poisson: wgpu::ComputePipeline,
    inject_spikes: wgpu::ComputePipeline,
    sample: wgpu::ComputePipeline,
    dopamine_send: wgpu::ComputePipeline,
    dopamine_transmit: wgpu::ComputePipeline,
    dopamine_trigger: wgpu::ComputePipeline,
}

struct Buffers {
    pop_params: wgpu::Buffer,
    neuron_info: wgpu::Buffer,
    state: wgpu::Buffer,
    refractory: wgpu::Buffer,
    ring: wgpu::Buffer,
    i_stim: wgpu::Buffer,
    spike_list: wgpu::Buffer,
    counters: wgpu::Buffer,
    spike_counts: wgpu::Buffer,
    rec_buf: wgpu::Buffer,
    poisson_entries: wgpu::Buffer,
    poisson_stims: wgpu::Buffer,
    inv_k: wgpu::Buffer,
    events: wgpu::Buffer,
    sample_map: wgpu::Buffer,
    sample_buf: wgpu::Buffer,
    stdp_rules: wgpu::Buffer,
    pre_state: wgpu::Buffer,
    post_history: wgpu::Buffer,
    dopa_rules: wgpu::Buffer,
    dopamine: wgpu::Buffer,
    uniforms: wgpu::Buffer,
}

/// One synapse storage buffer with its row pointers and STDP state.
struct ChunkBuffers {
    synapses: wgpu::Buffer,
    plastic: wgpu::Buffer,
    dopa_syn: wgpu::Buffer,
    len: u64,
    /// Size of the chunk's row-pointer buffer (bound only through its bind group).
    row_ptr_bytes: u64,
    /// Dopamine synapses in the chunk.
    dopa_len: u64,
}

/// The device's STDP buffers read back (for comparison with the twin):
/// synapses and per-synapse state of every chunk, concatenated, the
/// per-neuron state (spike stamps and traces K+) and the spike histories.
pub type PlasticSnapshot = (
    Vec<Synapse>,
    Vec<PlasticState>,
    Vec<[u32; 2]>,
    Vec<HistoryEntry>,
);

/// Neuron state, refractory counters and ring-buffer words read back from the device.
pub type DeviceSnapshot = (Vec<[f32; 4]>, Vec<u32>, Vec<u32>);

/// The device's dopamine buffers read back (for comparison with the twin):
/// the dopamine synapse states of every chunk, concatenated, and the
/// `dopamine` words (sender lists, slice masks, spike lists and rings).
pub type DopamineSnapshot = (Vec<DopaSynapse>, Vec<u32>);

/// Words of the `counters` buffer.
const COUNTER_WORDS: usize = 8;

/// The wgpu backend.
pub struct GpuEngine {
    net: Arc<Network>,
    dn: DeviceNetwork,
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    pipelines: Pipelines,
    layout0: wgpu::BindGroupLayout,
    buffers: Buffers,
    bind0: wgpu::BindGroup,
    bind_uniform: wgpu::BindGroup,
    bind_chunks: Vec<wgpu::BindGroup>,
    chunk_buffers: Vec<ChunkBuffers>,
    step: u64,
    max_chunk_steps: u64,
    /// Input from [`Engine::inject_input`], added before the next step.
    pending_injections: Vec<Event>,
    /// Entries of `dn.poisson_stims` changed by `set_stimulus_rate` since
    /// the last upload (first, end): uploaded in one write before the next
    /// chunk, not one write per call (a batch of instances changes
    /// thousands of afferent rates at every exchange).
    poisson_dirty: Option<(usize, usize)>,
    /// Every synapse's f64 weight once [`Engine::set_projection_weights`]
    /// has changed some (`None`: the description's); static synapses show
    /// these (the device never changes them).
    set_weights: Option<Vec<f64>>,
    rec_capacity: u32,
    max_rows: u64,
    lost: Arc<AtomicBool>,
    limits: wgpu::Limits,
}

impl Buffers {
    /// The buffers of bind group 0, in binding order (also what the network
    /// occupies on the device, with the uniforms and the synapse chunks).
    fn network_bindings(&self) -> [&wgpu::Buffer; 21] {
        let b = self;
        [
            &b.pop_params,
            &b.neuron_info,
            &b.state,
            &b.refractory,
            &b.ring,
            &b.i_stim,
            &b.spike_list,
            &b.counters,
            &b.spike_counts,
            &b.rec_buf,
            &b.poisson_entries,
            &b.poisson_stims,
            &b.inv_k,
            &b.events,
            &b.sample_map,
            &b.sample_buf,
            &b.stdp_rules,
            &b.pre_state,
            &b.post_history,
            &b.dopa_rules,
            &b.dopamine,
        ]
    }
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// Steps per submission: bounded so the recorded-spike buffer cannot overflow.
const DEFAULT_CHUNK_STEPS: u64 = 1000;
/// Recorded-spike buffer budget, bytes.
const REC_BUDGET: u64 = 64 << 20;

/// The bytes of `v`, at least 16 and at least one element (a binding must
/// hold one element of its array even where no kernel reads it).
fn padded<T: bytemuck::Pod + bytemuck::Zeroable>(v: &[T]) -> Vec<u8> {
    let mut bytes = bytemuck::cast_slice(v).to_vec();
    let min = std::mem::size_of::<T>().max(16);
    if bytes.len() < min {
        bytes.resize(min, 0);
    }
    bytes
}

impl GpuEngine {
    /// Lays the network out on the best adapter.
    pub fn new(net: Arc<Network>) -> Result<Self, EngineError> {
        Self::with_options(net, None)
    }

    /// As [`GpuEngine::new`], with an optional cap on synapses per storage
    /// binding (tests use it to force several synapse buffers).
    pub fn with_options(
        net: Arc<Network>,
        max_chunk_synapses: Option<u64>,
    ) -> Result<Self, EngineError> {
        let adapter = best_adapter()?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        // A chunk's largest per-synapse buffer must fit one binding: with
        // dopamine synapses, their state (which all of a chunk's synapses
        // could be).
        let per_synapse = if net.has_dopamine() {
            SYNAPSE_BYTES.max(DOPA_SYNAPSE_BYTES)
        } else {
            SYNAPSE_BYTES
        };
        let per_binding = limits.max_storage_buffer_binding_size / per_synapse;
        let cap = max_chunk_synapses
            .unwrap_or(per_binding)
            .min(per_binding)
            .min(limits.max_buffer_size / per_synapse);
        let dn = DeviceNetwork::new(&net, cap).map_err(|e| EngineError::Backend(e.to_string()))?;

        // Every buffer must fit a binding; refuse before allocating anything.
        let n = dn.n as u64;
        let ring_bytes = n * dn.ring_len as u64 * 16;
        let synapse_bytes: u64 = dn
            .synapse_chunks
            .iter()
            .map(|c| c.synapses.len() as u64 * SYNAPSE_BYTES + (n + 1) * 4)
            .sum();
        let min_ref = dn
            .pop_params
            .iter()
            .map(|p| p.ref_steps as u64)
            .min()
            .unwrap_or(0);
        let recorded = dn
            .neuron_info
            .iter()
            .filter(|&&i| i & 0x8000_0000 != 0)
            .count() as u64;
        let mut max_chunk_steps = DEFAULT_CHUNK_STEPS;
        while max_chunk_steps > 1
            && recorded * max_chunk_steps.div_ceil(min_ref + 1) * 8 > REC_BUDGET
        {
            max_chunk_steps /= 2;
        }
        let rec_capacity = (recorded * max_chunk_steps.div_ceil(min_ref + 1)).max(1);
        let max_rows = dn
            .sampling
            .iter()
            .map(|s| max_chunk_steps.div_ceil(s.interval))
            .sum::<u64>()
            .min(max_chunk_steps)
            .max(1);
        let sample_bytes = max_rows * dn.sample_map.len().max(1) as u64 * 4;
        // STDP: per synapse the weights before the last two changes, per
        // neuron its last two spike stamps and traces K+, per neuron with
        // plastic input its spike history.
        let (plastic_bytes, stamp_bytes, history_bytes) = if dn.plastic {
            let synapses: u64 = dn
                .synapse_chunks
                .iter()
                .map(|c| c.synapses.len() as u64)
                .sum();
            (
                synapses * PLASTIC_BYTES,
                n * dn.pre_state_stride() as u64 * 8,
                dn.history_rows as u64
                    * POST_HISTORY as u64
                    * std::mem::size_of::<HistoryEntry>() as u64,
            )
        } else {
            (0, 0, 0)
        };
        // Dopamine: per dopamine synapse its state; the sender lists, slice
        // masks, spike lists and rings.
        let dopa_state_bytes: u64 = dn
            .dopamine
            .synapses
            .iter()
            .map(|c| c.len() as u64 * DOPA_SYNAPSE_BYTES)
            .sum();
        let dopamine_bytes = dn.dopamine.total_words * 4;
        let total = ring_bytes
            + synapse_bytes
            + dopa_state_bytes
            + dopamine_bytes
            + n * (16 + 4 * 6)
            + sample_bytes
            + rec_capacity * 8
            + dn.poisson_entries.len() as u64 * 16
            + plastic_bytes
            + stamp_bytes
            + history_bytes;
        let too_big = [
            ("ring buffer", ring_bytes),
            ("state", n * 16),
            ("sample buffer", sample_bytes),
            ("Poisson table", dn.poisson_entries.len() as u64 * 16),
            ("STDP spike history", history_bytes),
            ("per-neuron STDP state", stamp_bytes),
            ("dopamine buffer", dopamine_bytes),
        ]
        .into_iter()
        .chain(dn.dopamine.synapses.iter().map(|c| {
            (
                "dopamine synapse state",
                c.len() as u64 * DOPA_SYNAPSE_BYTES,
            )
        }))
        .into_iter()
        .find(|(_, b)| *b > limits.max_storage_buffer_binding_size || *b > limits.max_buffer_size);
        if let Some((what, bytes)) = too_big {
            return Err(EngineError::Backend(format!(
                "the network does not fit adapter `{}`: its {what} needs {:.2} GiB, more than one storage binding ({:.2} GiB); the whole network needs about {:.2} GiB",
                info.name,
                bytes as f64 / (1u64 << 30) as f64,
                limits.max_storage_buffer_binding_size as f64 / (1u64 << 30) as f64,
                total as f64 / (1u64 << 30) as f64
            )));
        }

        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("renshaw"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| {
            EngineError::Backend(format!("adapter `{}` refused a device: {e}", info.name))
        })?;
        let lost = Arc::new(AtomicBool::new(false));
        {
            let lost = Arc::clone(&lost);
            device
                .set_device_lost_callback(move |_reason, _msg| lost.store(true, Ordering::SeqCst));
        }
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);

        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let init = |label: &str, bytes: Vec<u8>| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: &bytes,
                usage: storage,
            })
        };
        let zeroed = |label: &str, size: u64| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(16),
                usage: storage,
                mapped_at_creation: false,
            })
        };
        let buffers = Buffers {
            pop_params: init("pop_params", padded(&dn.pop_params)),
            neuron_info: init("neuron_info", padded(&dn.neuron_info)),
            state: init("state", padded(&dn.state)),
            refractory: zeroed("refractory", n * 4),
            ring: zeroed("ring", ring_bytes),
            i_stim: zeroed("i_stim", n * 4),
            spike_list: zeroed("spike_list", 2 * n * 4),
            counters: zeroed("counters", COUNTER_WORDS as u64 * 4),
            spike_counts: zeroed("spike_counts", n * 4),
            rec_buf: zeroed("rec_buf", rec_capacity * 8),
            poisson_entries: init("poisson_entries", padded(&dn.poisson_entries)),
            poisson_stims: init("poisson_stims", padded(&dn.poisson_stims)),
            inv_k: init("inv_k", padded(&dn.inv_k)),
            events: zeroed("events", 16),
            sample_map: init("sample_map", padded(&dn.sample_map)),
            sample_buf: zeroed("sample_buf", sample_bytes),
            stdp_rules: init("stdp_rules", padded(&dn.stdp_rules)),
            pre_state: zeroed("pre_state", stamp_bytes),
            post_history: zeroed("post_history", history_bytes),
            dopa_rules: init("dopa_rules", padded(&dn.dopamine.rules)),
            dopamine: init("dopamine", padded(&dn.dopamine.initial_words())),
            uniforms: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("step uniforms"),
                // One more than the steps: the uniform that injects run-time input.
                size: (max_chunk_steps + 1) * UNIFORM_STRIDE,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        };
        queue.write_buffer(
            &buffers.counters,
            0,
            bytemuck::cast_slice(&[0u32, 0, 0, NO_OVERFLOW, 0, 0, NO_OVERFLOW, 0]),
        );
        let chunk_buffers: Vec<(wgpu::Buffer, ChunkBuffers)> = dn
            .synapse_chunks
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                let dopa = dn.dopamine.synapses.get(ci).map_or(&[][..], |v| &v[..]);
                let plastic = if dn.plastic {
                    init("plastic", padded(&dn.initial_plastic_state(c)))
                } else {
                    zeroed("plastic", 16)
                };
                (
                    init("row_ptr", padded(&c.row_ptr)),
                    ChunkBuffers {
                        synapses: init("synapses", padded(&c.synapses)),
                        plastic,
                        dopa_syn: init("dopa_syn", padded(dopa)),
                        len: c.synapses.len() as u64,
                        row_ptr_bytes: 0,
                        dopa_len: dopa.len() as u64,
                    },
                )
            })
            .collect();

        let read_only = [
            true, true, false, false, false, false, false, false, false, false, true, true, true,
            true, true, false, true, false, false, true, false,
        ];
        let entries0: Vec<_> = read_only
            .iter()
            .enumerate()
            .map(|(i, &ro)| storage_entry(i as u32, ro))
            .collect();
        let layout0 = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("network"),
            entries: &entries0,
        });
        let layout1 = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("step"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(
                        std::mem::size_of::<StepUniform>() as u64
                    ),
                },
                count: None,
            }],
        });
        let layout2 = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("synapse chunk"),
            entries: &[
                storage_entry(0, true),
                storage_entry(1, false),
                storage_entry(2, false),
                storage_entry(3, false),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("renshaw"),
            bind_group_layouts: &[Some(&layout0), Some(&layout1), Some(&layout2)],
            immediate_size: 0,
        });
        let make = |name: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(shaders::compose(name).into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let pipelines = Pipelines {
            begin_step: make("begin_step"),
            neuron_update: make("neuron_update"),
            deliver: make("deliver"),
            poisson: make("poisson"),
            inject_spikes: make("inject_spikes"),
            sample: make("sample"),
            dopamine_send: make("dopamine_send"),
            dopamine_transmit: make("dopamine_transmit"),
            dopamine_trigger: make("dopamine_trigger"),
        };
        let bind0 = Self::make_bind0(&device, &layout0, &buffers);
        let bind_uniform = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("step"),
            layout: &layout1,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffers.uniforms,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<StepUniform>() as u64),
                }),
            }],
        });
        let bind_chunks = chunk_buffers
            .iter()
            .map(|(rp, c)| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("synapse chunk"),
                    layout: &layout2,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: rp.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: c.synapses.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: c.plastic.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 3,
                            resource: c.dopa_syn.as_entire_binding(),
                        },
                    ],
                })
            })
            .collect();
        let chunk_buffers = chunk_buffers
            .into_iter()
            .map(|(rp, c)| ChunkBuffers {
                row_ptr_bytes: rp.size(),
                ..c
            })
            .collect();
        let validation_error = pollster::block_on(validation.pop());
        let oom_error = pollster::block_on(oom.pop());
        if let Some(e) = oom_error {
            return Err(EngineError::Backend(format!(
                "adapter `{}` ran out of memory laying out the network (about {:.2} GiB needed): {e}",
                info.name,
                total as f64 / (1u64 << 30) as f64
            )));
        }
        if let Some(e) = validation_error {
            return Err(EngineError::Backend(format!(
                "adapter `{}` rejected the network's buffers or kernels: {e}",
                info.name
            )));
        }
        Ok(Self {
            net,
            dn,
            device,
            queue,
            info,
            pipelines,
            layout0,
            buffers,
            bind0,
            bind_uniform,
            bind_chunks,
            chunk_buffers,
            step: 0,
            max_chunk_steps,
            pending_injections: Vec::new(),
            poisson_dirty: None,
            set_weights: None,
            rec_capacity: rec_capacity as u32,
            max_rows,
            lost,
            limits,
        })
    }

    fn make_bind0(
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        b: &Buffers,
    ) -> wgpu::BindGroup {
        let all = b.network_bindings();
        let entries: Vec<_> = all
            .iter()
            .enumerate()
            .map(|(i, buf)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: buf.as_entire_binding(),
            })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("network"),
            layout,
            entries: &entries,
        })
    }

    /// The adapter in use.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    fn read_back(&self, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, EngineError> {
        self.read_back_at(buffer, 0, bytes)
    }

    /// Bytes `offset..offset + bytes` of a buffer (`offset` a multiple of 4).
    fn read_back_at(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) -> Result<Vec<u8>, EngineError> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let size = bytes.div_ceil(4) * 4;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
        self.queue.submit([enc.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.failure(&format!("waiting for the GPU: {e}")))?;
        rx.recv()
            .map_err(|_| self.failure("the read-back was dropped"))?
            .map_err(|e| self.failure(&format!("mapping a read-back buffer: {e}")))?;
        let data = slice
            .get_mapped_range()
            .map_err(|e| self.failure(&format!("{e:?}")))?
            .to_vec();
        staging.unmap();
        Ok(data[..bytes as usize].to_vec())
    }

    fn failure(&self, what: &str) -> EngineError {
        if self.lost.load(Ordering::SeqCst) {
            EngineError::Backend(format!(
                "the GPU device `{}` was lost ({what}); output up to the last completed chunk is on disk",
                self.info.name
            ))
        } else {
            EngineError::Backend(format!("GPU `{}`: {what}", self.info.name))
        }
    }

    fn dispatch_1d(&self, pass: &mut wgpu::ComputePass<'_>, threads: u64) {
        let groups = threads.div_ceil(64).max(1);
        let max = self.limits.max_compute_workgroups_per_dimension as u64;
        let x = groups.min(65535).min(max);
        let y = groups.div_ceil(x);
        pass.dispatch_workgroups(x as u32, y as u32, 1);
    }

    fn run_chunk(&mut self, steps: u64, out: &mut Chunk) -> Result<(), EngineError> {
        self.dn
            .check_steps(self.step, steps)
            .map_err(EngineError::Backend)?;
        let mut plan = self.dn.plan_chunk(self.step, steps, self.rec_capacity);
        // Run-time input goes through the spike-injection kernel with the
        // uniform of the step before this chunk's first (its slot one
        // earlier): delivered one step ahead, the first step reads it, as
        // the CPU engine's `inject_input` does.
        let injected = std::mem::take(&mut self.pending_injections);
        let mut pre = plan.uniforms[0];
        pre.slot = (pre.slot + pre.ring_len - 1) % pre.ring_len;
        pre.inject_begin = plan.events.len() as u32;
        plan.events.extend_from_slice(&injected);
        pre.inject_end = plan.events.len() as u32;
        let mut ubytes = vec![0u8; (steps as usize + 1) * UNIFORM_STRIDE as usize];
        for (j, u) in plan.uniforms.iter().chain([&pre]).enumerate() {
            let off = j * UNIFORM_STRIDE as usize;
            ubytes[off..off + std::mem::size_of::<StepUniform>()]
                .copy_from_slice(bytemuck::bytes_of(u));
        }
        self.queue.write_buffer(&self.buffers.uniforms, 0, &ubytes);
        let event_bytes = (plan.events.len() * std::mem::size_of::<Event>()) as u64;
        if event_bytes > self.buffers.events.size() {
            // Grows only when a chunk has more events than any before it.
            self.buffers.events = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("events"),
                size: event_bytes.next_power_of_two(),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.bind0 = Self::make_bind0(&self.device, &self.layout0, &self.buffers);
        }
        if !plan.events.is_empty() {
            self.queue
                .write_buffer(&self.buffers.events, 0, bytemuck::cast_slice(&plan.events));
        }
        self.queue
            .write_buffer(&self.buffers.counters, 8, bytemuck::bytes_of(&0u32));

        let n = self.dn.n as u64;
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("steps"),
                timestamp_writes: None,
            });
            pass.set_bind_group(0, &self.bind0, &[]);
            pass.set_bind_group(2, &self.bind_chunks[0], &[]);
            if !injected.is_empty() {
                pass.set_bind_group(1, &self.bind_uniform, &[(steps * UNIFORM_STRIDE) as u32]);
                pass.set_pipeline(&self.pipelines.inject_spikes);
                self.dispatch_1d(&mut pass, injected.len() as u64);
            }
            for (j, u) in plan.uniforms.iter().enumerate() {
                pass.set_bind_group(1, &self.bind_uniform, &[(j as u64 * UNIFORM_STRIDE) as u32]);
                if u.dopa_send != 0 {
                    pass.set_pipeline(&self.pipelines.dopamine_send);
                    let groups = self.dn.dopamine.sources.clamp(1, 1024);
                    for bg in &self.bind_chunks {
                        pass.set_bind_group(2, bg, &[]);
                        pass.dispatch_workgroups(groups, 1, 1);
                    }
                }
                pass.set_pipeline(&self.pipelines.begin_step);
                self.dispatch_1d(&mut pass, (u.current_end - u.current_begin) as u64);
                pass.set_pipeline(&self.pipelines.neuron_update);
                self.dispatch_1d(&mut pass, n);
                pass.set_pipeline(&self.pipelines.deliver);
                for bg in &self.bind_chunks {
                    pass.set_bind_group(2, bg, &[]);
                    pass.dispatch_workgroups((n as u32).clamp(1, 1024), 1, 1);
                }
                if u.n_poisson > 0 {
                    pass.set_pipeline(&self.pipelines.poisson);
                    self.dispatch_1d(&mut pass, u.n_poisson as u64);
                }
                if u.inject_end > u.inject_begin {
                    pass.set_pipeline(&self.pipelines.inject_spikes);
                    self.dispatch_1d(&mut pass, (u.inject_end - u.inject_begin) as u64);
                }
                if u.sample_slot != u32::MAX {
                    pass.set_pipeline(&self.pipelines.sample);
                    self.dispatch_1d(&mut pass, u.n_sample_columns as u64);
                }
                if u.n_dopa > 0 {
                    pass.set_pipeline(&self.pipelines.dopamine_transmit);
                    pass.dispatch_workgroups(u.n_dopa, 1, 1);
                }
                if u.dopa_trigger != 0 {
                    pass.set_pipeline(&self.pipelines.dopamine_trigger);
                    for (bg, c) in self.bind_chunks.iter().zip(&self.chunk_buffers) {
                        if c.dopa_len > 0 {
                            pass.set_bind_group(2, bg, &[]);
                            self.dispatch_1d(&mut pass, c.dopa_len);
                        }
                    }
                }
            }
        }
        self.queue.submit([enc.finish()]);
        let counters: Vec<u32> = bytemuck::pod_collect_to_vec(
            &self.read_back(&self.buffers.counters, COUNTER_WORDS as u64 * 4)?,
        );
        if counters[DOPA_OVERFLOW_WORD] != NO_OVERFLOW {
            return Err(EngineError::Backend(dopamine_overflow_message(
                &self.net,
                &self.dn,
                counters[DOPA_OVERFLOW_WORD],
            )));
        }
        if counters[3] != NO_OVERFLOW {
            // Weights after the overflow are wrong: nothing of this chunk is returned.
            return Err(EngineError::Backend(history_overflow_message(
                &self.net,
                counters[3],
            )));
        }
        let recorded = counters[2];
        if recorded > self.rec_capacity {
            return Err(self.failure(&format!(
                "{recorded} spikes to record in a chunk, more than the buffer's {}",
                self.rec_capacity
            )));
        }
        let rec: Vec<[u32; 2]> = bytemuck::pod_collect_to_vec(
            &self.read_back(&self.buffers.rec_buf, recorded as u64 * 8)?,
        );
        let sample_floats = plan.sample_rows.len() as u64 * self.dn.sample_map.len() as u64;
        let samples: Vec<f32> = bytemuck::pod_collect_to_vec(
            &self.read_back(&self.buffers.sample_buf, sample_floats * 4)?,
        );
        collect_chunk(&self.dn, self.step, &plan, &rec, &samples, out);
        self.step += steps;
        Ok(())
    }

    /// Reads the device's mutable buffers back (for comparison with the twin):
    /// neuron state, refractory counters and ring-buffer words.
    pub fn read_state(&self) -> Result<DeviceSnapshot, EngineError> {
        let n = self.dn.n as u64;
        let state = bytemuck::pod_collect_to_vec(&self.read_back(&self.buffers.state, n * 16)?);
        let refractory =
            bytemuck::pod_collect_to_vec(&self.read_back(&self.buffers.refractory, n * 4)?);
        let ring = bytemuck::pod_collect_to_vec(
            &self.read_back(&self.buffers.ring, n * self.dn.ring_len as u64 * 16)?,
        );
        Ok((state, refractory, ring))
    }

    /// Reads the device's STDP buffers back (for comparison with the twin).
    pub fn read_plasticity(&self) -> Result<PlasticSnapshot, EngineError> {
        let (synapses, plastic, stamps) = self.read_synapse_state()?;
        let history = if self.dn.plastic {
            bytemuck::pod_collect_to_vec(&self.read_back(
                &self.buffers.post_history,
                self.dn.history_rows as u64
                    * POST_HISTORY as u64
                    * std::mem::size_of::<HistoryEntry>() as u64,
            )?)
        } else {
            Vec::new()
        };
        Ok((synapses, plastic, stamps, history))
    }

    /// Synapses, per-synapse STDP state and spike stamps, read back.
    #[expect(clippy::type_complexity, reason = "three buffers, named in the doc")]
    fn read_synapse_state(
        &self,
    ) -> Result<(Vec<Synapse>, Vec<PlasticState>, Vec<[u32; 2]>), EngineError> {
        let mut synapses = Vec::new();
        let mut plastic = Vec::new();
        for c in &self.chunk_buffers {
            synapses.extend(bytemuck::pod_collect_to_vec::<u8, Synapse>(
                &self.read_back(&c.synapses, c.len * SYNAPSE_BYTES)?,
            ));
            if self.dn.plastic {
                plastic.extend(bytemuck::pod_collect_to_vec::<u8, PlasticState>(
                    &self.read_back(&c.plastic, c.len * PLASTIC_BYTES)?,
                ));
            }
        }
        let stamps = if self.dn.plastic {
            bytemuck::pod_collect_to_vec(&self.read_back(
                &self.buffers.pre_state,
                self.dn.n as u64 * self.dn.pre_state_stride() as u64 * 8,
            )?)
        } else {
            Vec::new()
        };
        Ok((synapses, plastic, stamps))
    }

    /// Reads the device's dopamine buffers back (for comparison with the twin).
    pub fn read_dopamine(&self) -> Result<DopamineSnapshot, EngineError> {
        let words = bytemuck::pod_collect_to_vec(
            &self.read_back(&self.buffers.dopamine, self.dn.dopamine.total_words * 4)?,
        );
        Ok((self.read_dopa_states()?, words))
    }

    /// The dopamine synapse states of every chunk, concatenated.
    fn read_dopa_states(&self) -> Result<Vec<DopaSynapse>, EngineError> {
        let mut states = Vec::new();
        for c in &self.chunk_buffers {
            states.extend(bytemuck::pod_collect_to_vec::<u8, DopaSynapse>(
                &self.read_back(&c.dopa_syn, c.dopa_len * DOPA_SYNAPSE_BYTES)?,
            ));
        }
        Ok(states)
    }

    /// Number of synapse storage buffers in use.
    pub fn synapse_buffers(&self) -> usize {
        self.bind_chunks.len()
    }
}

impl Engine for GpuEngine {
    fn describe(&self) -> String {
        format!(
            "gpu ({}, {:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    fn network(&self) -> &Network {
        &self.net
    }

    fn current_step(&self) -> u64 {
        self.step
    }

    fn advance(&mut self, steps: u64, out: &mut Chunk) -> Result<(), EngineError> {
        if let Some((first, end)) = self.poisson_dirty.take() {
            let size = std::mem::size_of::<PoissonStim>();
            // Ordered before the chunk's work on the queue.
            self.queue.write_buffer(
                &self.buffers.poisson_stims,
                (first * size) as u64,
                bytemuck::cast_slice(&self.dn.poisson_stims[first..end]),
            );
        }
        let mut left = steps;
        while left > 0 {
            let s = left.min(self.max_chunk_steps);
            self.run_chunk(s, out)?;
            left -= s;
        }
        let _ = self.max_rows;
        Ok(())
    }

    fn inject_input(&mut self, neuron: u32, weight: f64) -> Result<(), EngineError> {
        super::check_injection(&self.net, neuron, weight)?;
        self.pending_injections.push(Event {
            target: neuron,
            value: weight as f32,
        });
        Ok(())
    }

    fn device_memory_bytes(&self) -> Option<u64> {
        let b = &self.buffers;
        let network: u64 = b
            .network_bindings()
            .iter()
            .chain([&&b.uniforms])
            .map(|buf| buf.size())
            .sum();
        let synapses: u64 = self
            .chunk_buffers
            .iter()
            .map(|c| c.synapses.size() + c.plastic.size() + c.dopa_syn.size() + c.row_ptr_bytes)
            .sum();
        Some(network + synapses)
    }

    fn spike_counts(&self) -> Vec<u64> {
        match self.read_back(&self.buffers.spike_counts, self.dn.n as u64 * 4) {
            Ok(bytes) => bytemuck::pod_collect_to_vec::<u8, u32>(&bytes)
                .iter()
                .map(|&c| c as u64)
                .collect(),
            Err(_) => vec![0; self.dn.n as usize],
        }
    }

    fn synapse_weights(&self) -> Result<Vec<f64>, EngineError> {
        let base = self
            .set_weights
            .as_deref()
            .unwrap_or(&self.net.synapses.weight);
        if !self.dn.plastic {
            // The device never changes a static weight.
            return Ok(base.to_vec());
        }
        let (synapses, plastic, stamps) = self.read_synapse_state()?;
        let dopa = if self.dn.dopamine.rules.is_empty() {
            Vec::new()
        } else {
            self.read_dopa_states()?
        };
        Ok(self.dn.visible_weights(
            &self.net, base, &synapses, &plastic, &stamps, &dopa, self.step,
        ))
    }

    fn set_projection_weights(
        &mut self,
        projection: usize,
        weights: &[f64],
    ) -> Result<(), EngineError> {
        let ks = super::check_projection_weights(&self.net, projection, weights)?;
        // Per synapse buffer, the span from the projection's first synapse in
        // it to its last is read back (plastic synapses of other projections
        // in between have changed on the device), patched and written back:
        // queue writes, ordered before the next chunk's work.
        for (c, list) in self.dn.locate_synapses(&ks) {
            let (a, b) = (list[0].1, list[list.len() - 1].1 + 1);
            let cb = &self.chunk_buffers[c];
            let mut synapses: Vec<Synapse> = bytemuck::pod_collect_to_vec(&self.read_back_at(
                &cb.synapses,
                a as u64 * SYNAPSE_BYTES,
                (b - a) as u64 * SYNAPSE_BYTES,
            )?);
            // A dopamine projection's synapses: the span of their states
            // (their `plastic` entries hold the states' indices and stay).
            let dopa_span = self
                .dn
                .dopa_index(c, a)
                .zip(self.dn.dopa_index(c, b - 1))
                .map(|(qa, qb)| (qa, qb + 1));
            let mut plastic: Vec<PlasticState> = if self.dn.plastic && dopa_span.is_none() {
                bytemuck::pod_collect_to_vec(&self.read_back_at(
                    &cb.plastic,
                    a as u64 * PLASTIC_BYTES,
                    (b - a) as u64 * PLASTIC_BYTES,
                )?)
            } else {
                Vec::new()
            };
            let mut dopa: Vec<DopaSynapse> = match dopa_span {
                Some((qa, qb)) => bytemuck::pod_collect_to_vec(&self.read_back_at(
                    &cb.dopa_syn,
                    qa as u64 * DOPA_SYNAPSE_BYTES,
                    (qb - qa) as u64 * DOPA_SYNAPSE_BYTES,
                )?),
                None => Vec::new(),
            };
            for &(i, j) in &list {
                let q = dopa_span
                    .map(|(qa, _)| self.dn.dopa_index(c, j).expect("a dopamine synapse") - qa);
                self.dn.encode_weight(
                    &mut synapses[j - a],
                    plastic.get_mut(j - a),
                    q.map(|q| &mut dopa[q]),
                    weights[i],
                );
            }
            self.queue.write_buffer(
                &cb.synapses,
                a as u64 * SYNAPSE_BYTES,
                bytemuck::cast_slice(&synapses),
            );
            if !plastic.is_empty() {
                self.queue.write_buffer(
                    &cb.plastic,
                    a as u64 * PLASTIC_BYTES,
                    bytemuck::cast_slice(&plastic),
                );
            }
            if let Some((qa, _)) = dopa_span {
                self.queue.write_buffer(
                    &cb.dopa_syn,
                    qa as u64 * DOPA_SYNAPSE_BYTES,
                    bytemuck::cast_slice(&dopa),
                );
            }
        }
        let all = self
            .set_weights
            .get_or_insert_with(|| self.net.synapses.weight.clone());
        for (&k, &w) in ks.iter().zip(weights) {
            all[k] = w;
        }
        Ok(())
    }

    fn set_stimulus_rate(&mut self, stimulus: usize, rate_hz: f64) -> Result<(), EngineError> {
        let lambda = super::check_rate_change(&self.net, stimulus, rate_hz)?;
        let Some(si) = self
            .dn
            .poisson_stim_of
            .get(stimulus)
            .copied()
            .flatten()
            .map(|si| si as usize)
        else {
            // A Poisson stimulus without targets has no entry on the device.
            return Ok(());
        };
        let pp = PoissonParams::new(lambda);
        let stim = &mut self.dn.poisson_stims[si];
        let (pieces, rest, exp_rest) = (pp.pieces, pp.rest as f32, pp.exp_rest as f32);
        if (stim.pieces, stim.rest, stim.exp_rest) == (pieces, rest, exp_rest) {
            return Ok(());
        }
        stim.pieces = pieces;
        stim.rest = rest;
        stim.exp_rest = exp_rest;
        // Uploaded at the next advance, with every other change.
        self.poisson_dirty = Some(match self.poisson_dirty {
            Some((first, end)) => (first.min(si), end.max(si + 1)),
            None => (si, si + 1),
        });
        Ok(())
    }

    fn set_silenced(&mut self, population: usize, silenced: bool) -> Result<(), EngineError> {
        super::check_population(&self.net, population)?;
        self.dn.pop_params[population].silenced = u32::from(silenced);
        self.queue.write_buffer(
            &self.buffers.pop_params,
            (population * std::mem::size_of::<PopParams>()) as u64,
            bytemuck::bytes_of(&self.dn.pop_params[population]),
        );
        Ok(())
    }

    fn set_plasticity(&mut self, projection: usize, enabled: bool) -> Result<(), EngineError> {
        if let Some(row) = self
            .dn
            .dopamine
            .projection
            .iter()
            .position(|&p| p == projection)
        {
            self.dn.dopamine.rules[row].enabled = u32::from(enabled);
            // Ordered before the next chunk's work on the queue.
            self.queue.write_buffer(
                &self.buffers.dopa_rules,
                (row * std::mem::size_of::<DopaRule>()) as u64,
                bytemuck::bytes_of(&self.dn.dopamine.rules[row]),
            );
            return Ok(());
        }
        match self.net.projections.get(projection) {
            Some(p) if p.plasticity.is_some() => {
                self.dn.stdp_rules[projection].enabled = u32::from(enabled);
                // Ordered before the next chunk's work on the queue.
                self.queue.write_buffer(
                    &self.buffers.stdp_rules,
                    (projection * std::mem::size_of::<StdpRule>()) as u64,
                    bytemuck::bytes_of(&self.dn.stdp_rules[projection]),
                );
                Ok(())
            }
            _ => Err(super::not_plastic(&self.net, projection)),
        }
    }
}
