"""A small training script with the mistakes torchlint exists to catch."""

import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class Samples(Dataset):
    """One sample per `.npy` file, read when the loader asks for it."""

    def __init__(self, paths: list[str], labels: torch.Tensor) -> None:
        self.paths = paths
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.load(self.paths[index])), self.labels[index]


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 64)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


def main(paths: list[str], labels: torch.Tensor, resume: str | None) -> None:
    loader = DataLoader(Samples(paths, labels), batch_size=32, shuffle=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    model = Classifier().cuda()
    if resume:
        model.load_state_dict(torch.load(resume))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()

    with torch.no_grad():
        features = torch.stack([torch.from_numpy(np.load(path)) for path in paths])
        predictions = model(features.to(device)).argmax(dim=1)
    print("accuracy", (predictions.cpu() == labels).float().mean().item())

    torch.save(model.state_dict(), "classifier.pt")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--resume")
    args = parser.parse_args()
    main(args.paths, torch.randint(0, 3, (len(args.paths),)), args.resume)
