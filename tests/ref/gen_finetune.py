"""Reference fine-tuning steps in PyTorch, for byol's classifier test.

Usage: gen_finetune.py OUTDIR

Semi-supervised fine-tuning as the BYOL paper does it (appendix D.1): an
encoder with a linear head, trained end to end in training mode (BatchNorm on
the batch's statistics) on softmax cross-entropy, by SGD with Nesterov
momentum 0.9 and no weight decay, here in float64 from a float32 start. Each
case writes OUTDIR/<case>.safetensors with:

  init.encoder.<name>, init.head.fc.<name>  parameters and buffers before step 0
  images.<k>, labels.<k>                    the batch of step k (labels as float)
  loss, lr                                  per step
  final.encoder.<name>, final.head.fc.<name> after the last step
  momentum.encoder.<name>, momentum.head.fc.<name> SGD's momentum buffers
  logits                                    eval-mode logits of images.0 at the end

metadata: the network settings.
"""
import os
import sys

import torch
from torch import nn

import models
import stio

# name: (model, width, stem, channels, size, batch, classes, lrs per step)
CASES = {
    "finetune-convnet": ("convnet", 0.25, "cifar", 1, 16, 8, 4, (0.05, 0.2, 0.1)),
    "finetune-resnet18": ("resnet18", 0.125, "cifar", 3, 16, 8, 3, (0.1,)),
}


def state(prefix, module):
    """Parameters and buffers of a module under a prefix, as float32 (counts as int64)."""
    return {f"{prefix}.{k}": (v.float() if v.is_floating_point() else v).clone()
            for k, v in module.state_dict().items()}


def run_case(spec):
    name, width, stem, channels, size, batch, classes, lrs = spec
    enc = models.encoder(name, width, stem, channels)
    head = nn.Linear(enc.out_channels, classes)
    tensors = {**state("init.encoder", enc), **state("init.head.fc", head)}
    enc.double().train()
    head.double().train()
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=lrs[0], momentum=0.9, nesterov=True, weight_decay=0)
    losses = []
    for k, lr in enumerate(lrs):
        images = torch.rand(batch, channels, size, size)
        labels = torch.randint(0, classes, (batch,))
        tensors[f"images.{k}"], tensors[f"labels.{k}"] = images, labels.float()
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(enc(images.double())), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    tensors.update(state("final.encoder", enc))
    tensors.update(state("final.head.fc", head))
    for prefix, module in (("momentum.encoder", enc), ("momentum.head.fc", head)):
        for n, p in module.named_parameters():
            tensors[f"{prefix}.{n}"] = opt.state[p]["momentum_buffer"].float()
    enc.eval()
    head.eval()
    with torch.no_grad():
        tensors["logits"] = head(enc(tensors["images.0"].double())).float()
    tensors["loss"] = torch.tensor(losses, dtype=torch.float64).float()
    tensors["lr"] = torch.tensor(lrs, dtype=torch.float64).float()
    return tensors


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    for seed, (case, spec) in enumerate(CASES.items()):
        torch.manual_seed(100 + seed)
        name, width, stem, channels, size, batch, classes, lrs = spec
        metadata = {"model": name, "width": width, "stem": stem, "channels": channels,
                    "size": size, "batch": batch, "classes": classes, "steps": len(lrs)}
        path = os.path.join(outdir, case + ".safetensors")
        stio.save(path, run_case(spec), {k: str(v) for k, v in metadata.items()})
        print(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_finetune.py OUTDIR")
    main(sys.argv[1])
